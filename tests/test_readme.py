"""README's code stays true: its property-testing example is the test file that runs."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_property_example_is_the_tested_file():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "tests" / "testing" / "test_readme_example.py").read_text()
    body = example.split("\n", 1)[1]  # drop the file's docstring line
    assert body in readme


def test_readme_names_both_setup_commands():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[examples]" && python examples/train_resnet.py' in readme
    assert 'pip install -e ".[dev]" && python -m pytest' in readme
