"""Registries of named functions (figures, attacks, embeddings), filled by decorator where each function
is defined, so that no table pairs names with functions by position.

The names a registry accepts are fixed in `choices.py`, which the command line reads without
importing the heavy modules that define the functions; registering another name is an error."""

from trainers import unknown_name


class Registry(dict):
    """{name: function} of one `kind`, restricted to `names`."""

    def __init__(self, kind: str, names):
        super().__init__()
        self.kind, self.names = kind, tuple(names)

    def register(self, name: str):
        """Decorator: register the function under `name`."""
        if name not in self.names:
            raise ValueError(f"{self.kind} {name!r} is not one of the names in choices.py: {', '.join(self.names)}")

        def add(function):
            self[name] = function
            return function
        return add

    def lookup(self, name: str):
        """The function registered as `name`; a ConfigError listing the registered names otherwise."""
        if name not in self:
            raise unknown_name(self.kind, name, list(self))
        return self[name]
