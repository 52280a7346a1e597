from pathlib import Path

import pytest

from backend.errors import UnsupportedLabelConfig
from backend.label_config import parse_label_config

CONFIGS = Path(__file__).resolve().parents[1] / "label_config"


def test_single_choice_config() -> None:
    config = parse_label_config((CONFIGS / "text_classification.xml").read_text())
    (control,) = config.controls
    assert (control.name, control.to_name, control.field) == ("sentiment", "text", "text")
    assert control.labels == ("Positive", "Negative")
    assert not control.multi_label


def test_every_choices_of_a_text_is_found_with_its_field() -> None:
    config = parse_label_config((CONFIGS / "two_classifications.xml").read_text())
    assert [(c.name, c.field, c.multi_label) for c in config.controls] == [
        ("sentiment", "review", False),
        ("aspects", "review", True),
    ]
    assert config.control("aspects").labels == ("Price", "Quality", "Service")


def test_shipped_configs_all_parse() -> None:
    for path in CONFIGS.glob("*.xml"):
        assert parse_label_config(path.read_text()).controls, path.name


def test_alias_is_the_stored_label() -> None:
    xml = """<View><Text name="t" value="$body"/>
      <Choices name="c" toName="t">
        <Choice value="Good one" alias="good"/><Choice value="bad"/>
      </Choices>
    </View>"""
    assert parse_label_config(xml).controls[0].labels == ("good", "bad")


def test_unpredictable_controls_are_listed_beside_the_good_ones() -> None:
    xml = """<View><Image name="img" value="$image"/><Text name="t" value="$text"/>
      <Choices name="on_image" toName="img"><Choice value="a"/></Choices>
      <Choices name="ok" toName="t"><Choice value="x"/><Choice value="y"/></Choices>
    </View>"""
    config = parse_label_config(xml)
    assert [c.name for c in config.controls] == ["ok"]
    assert "on_image" in config.ignored[0]


@pytest.mark.parametrize(
    ("xml", "says"),
    [
        (
            '<View><Image name="i" value="$img"/><RectangleLabels name="r" toName="i">'
            '<Label value="car"/></RectangleLabels></View>',
            "RectangleLabels",
        ),
        (
            '<View><Text name="t" value="$text"/>'
            '<Choices name="c" toName="t" value="$opts"/></View>',
            "task data",
        ),
        ("<View><Text name='t'", "not valid XML"),
        ("", "empty"),
    ],
)
def test_nothing_predictable_is_an_error_that_names_what_is_supported(xml: str, says: str) -> None:
    with pytest.raises(UnsupportedLabelConfig, match=says) as error:
        parse_label_config(xml)
    assert "Choices" in error.value.fix or "Choices" in error.value.message
