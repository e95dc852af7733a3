"""Command-line options generated from the dataclasses they fill (`TrainConfig`, `AnalysisOptions`,
`CompareOptions`): each default lives once, in the dataclass, and the command shows it."""

import argparse
from dataclasses import MISSING, dataclass, fields


def csv_list(kind: str, cast=str):
    """An argparse type: comma-separated values of `cast`; empty or unparsable is a usage error."""
    def parse(text):
        try:
            values = [cast(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{kind} must not be empty")
        return values
    return parse


@dataclass(frozen=True)
class Option:
    """The flag of dataclass field `field`: its value type (`csv`: a comma-separated list of it), help,
    and a flag name when it differs from --FIELD-NAME."""
    field: str
    help: str = ""
    type: type = str
    csv: bool = False
    flag: str | None = None

    @property
    def name(self) -> str:
        return self.flag or "--" + self.field.replace("_", "-")


def default_of(cls, name: str):
    """The default of field `name` of dataclass `cls`."""
    spec = next(f for f in fields(cls) if f.name == name)
    return spec.default_factory() if spec.default is MISSING else spec.default


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _help_text(text: str) -> str:
    """`text` for argparse, which formats help with %: a literal percent sign is written %%."""
    return text.replace("%", "%%")


def add_options(parser, cls, options) -> None:
    """One flag per `Option`, whose default is the dataclass's (booleans: a flag that flips it)."""
    for option in options:
        default = default_of(cls, option.field)
        if isinstance(default, bool):
            parser.add_argument(option.name, dest=option.field, action="store_false" if default else "store_true",
                                help=_help_text(option.help))
            continue
        kind = csv_list(option.name, option.type) if option.csv else option.type
        shown = f" (default {_shown(default)})" if default is not None and "default" not in option.help else ""
        parser.add_argument(option.name, dest=option.field, type=kind,
                            default=default,
                            help=_help_text(option.help + shown))


def values_of(args, options) -> dict:
    """{field: parsed value} of the `options` on the command line `args`."""
    return {option.field: getattr(args, option.field) for option in options}
