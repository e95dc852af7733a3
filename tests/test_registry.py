"""`Registry`: functions registered by decorator under the names choices.py lists, looked up with one
clear error."""

import pytest

from bioplaus_analysis.registry import Registry
from trainers import ConfigError


def test_a_registry_refuses_unlisted_names_and_lists_the_valid_ones():
    registry = Registry("colour", ("red", "green"))
    registry.register("red")(len)
    assert registry.lookup("red") is len
    with pytest.raises(ValueError, match="colour 'blue' is not one of the names in choices.py: red, green"):
        registry.register("blue")
    with pytest.raises(ConfigError, match="unknown colour 'green'; choose one of: red$"):
        registry.lookup("green")  # listed, but nothing registered it
