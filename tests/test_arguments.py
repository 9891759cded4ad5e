import pytest

from lit_evoae.arguments import Beta, ClosedUnitInterval, PositiveInt, check, check_each
from lit_evoae.errors import ConfigError


def test_check_returns_plain_builtins():
    value = check("n", 3, PositiveInt)
    assert value == 3 and type(value) is int
    assert type(check("p", 0.5, ClosedUnitInterval)) is float


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("batch_size", 0, PositiveInt),
        ("flip_probability", 1.5, ClosedUnitInterval),
        ("beta", 1.0, Beta),
    ],
)
def test_check_names_the_field_and_the_value(name, value, kind):
    with pytest.raises(ConfigError, match=f"{name}={value}"):
        check(name, value, kind)


def test_check_each_names_the_index():
    assert check_each("sizes", [3, 4], PositiveInt) == (3, 4)
    with pytest.raises(ConfigError, match=r"sizes\[1\]=-4"):
        check_each("sizes", [3, -4], PositiveInt)
