import argparse
import re

import pytest
from pydantic import model_validator

from elfrl.config import ConfigError, StrictModel, add_config_args, dump_config, load_config


class Scoring(StrictModel):
    tau: float = 0.8
    version: str = "v1"


class Rollout(StrictModel):
    group_size: int = 8
    temperatures: list[float] = [1.2]


class Stage(StrictModel):
    name: str = "grpo"
    seed: int = 0
    scoring: Scoring = Scoring()
    rollout: Rollout = Rollout()
    extra_args: dict[str, float] = {}
    note: str | None = None


class Window(StrictModel):
    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.low > self.high:
            raise ValueError(f"low must not exceed high, got low={self.low} high={self.high}")
        return self


class Checked(StrictModel):
    window: Window = Window()
    mode: str = "a"

    @model_validator(mode="after")
    def _mode_b_needs_wide_window(self) -> "Checked":
        if self.mode == "b" and self.window.high - self.window.low < 0.5:
            raise ValueError("mode b needs a window at least 0.5 wide")
        return self


def write(tmp_path, text, name="x.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_file():
    assert load_config(Stage, None) == Stage()


def test_empty_file_is_defaults(tmp_path):
    assert load_config(Stage, write(tmp_path, "")) == Stage()


@pytest.mark.parametrize(
    "overrides, check",
    [
        (["seed=3"], lambda c: c.seed == 3),
        (["scoring.tau=0.5"], lambda c: c.scoring.tau == 0.5),
        (["scoring.version=v2"], lambda c: c.scoring.version == "v2"),
        (["rollout.temperatures=[1.0, 1.2]"], lambda c: c.rollout.temperatures == [1.0, 1.2]),
        (["note=null"], lambda c: c.note is None),
        (["note=hello world"], lambda c: c.note == "hello world"),
        (["note="], lambda c: c.note == ""),  # an empty value is the empty string, not null
        (["extra_args.lr=0.1"], lambda c: c.extra_args == {"lr": 0.1}),
        (["seed=1", "seed=2"], lambda c: c.seed == 2),  # later overrides win
        (["scoring={tau: 0.3}"], lambda c: c.scoring == Scoring(tau=0.3)),
    ],
)
def test_overrides(overrides, check):
    assert check(load_config(Stage, None, overrides))


def test_override_on_top_of_file(tmp_path):
    path = write(tmp_path, "seed: 5\nscoring:\n  tau: 0.9\n")
    cfg = load_config(Stage, path, ["scoring.version=v2"])
    assert (cfg.seed, cfg.scoring.tau, cfg.scoring.version) == (5, 0.9, "v2")


def test_override_into_null_section(tmp_path):
    path = write(tmp_path, "scoring:\n")  # YAML: scoring is null
    assert load_config(Stage, path, ["scoring.tau=0.1"]).scoring.tau == 0.1


@pytest.mark.parametrize(
    "yaml_text, overrides, message",
    [
        (
            "scoring:\n  tua: 0.5\n",
            [],
            "unknown key 'scoring.tua' in {path}; valid keys: tau, version; did you mean 'tau'?",
        ),
        (
            "sead: 1\n",
            [],
            "unknown key 'sead' in {path}; valid keys: name, seed, scoring, rollout, extra_args, note; did you mean 'seed'?",
        ),
        (
            "",
            ["scoring.tua=0.5"],
            "unknown key 'scoring.tua' in override 'scoring.tua=0.5' for {path}; valid keys: tau, version; did you mean 'tau'?",
        ),
        (
            "",
            ["rollout.zzz=1"],
            "unknown key 'rollout.zzz' in override 'rollout.zzz=1' for {path}; valid keys: group_size, temperatures",
        ),
        (
            "",
            ["seed.x=1"],
            "'seed' is a value, not a section, so 'seed.x' does not exist (in override 'seed.x=1' for {path})",
        ),
        ("", ["seed"], "override 'seed' for {path} has no '='; write it as KEY=VALUE, e.g. scoring.tau=0.8"),
        ("", ["scoring..tau=1"], "override 'scoring..tau=1' for {path} has an empty key part in 'scoring..tau'"),
        (
            "",
            ["seed=abc"],
            "invalid value for 'seed' in {path}: Input should be a valid integer, unable to parse string as an integer (got 'abc')",
        ),
        (
            "rollout:\n  temperatures: [1.0, hot]\n",
            [],
            "invalid value for 'rollout.temperatures[1]' in {path}: Input should be a valid number, "
            "unable to parse string as a number (got 'hot')",
        ),
        ("- 1\n- 2\n", [], "config {path} must be a mapping of keys at the top level, got list"),
        ("scoring: [\n", [], "config {path} is not valid YAML"),
    ],
)
def test_errors(tmp_path, yaml_text, overrides, message):
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError, match="^" + re.escape(message.format(path=path))):
        load_config(Stage, path, overrides)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"^config file not found: {re.escape(str(path))}$"):
        load_config(Stage, path)


def test_errors_without_file_say_so():
    with pytest.raises(ConfigError, match=re.escape("in override 'sed=1' for <no config file>")):
        load_config(Stage, None, ["sed=1"])


def test_several_validation_errors_are_all_reported(tmp_path):
    path = write(tmp_path, "seed: x\nname: [1]\n")
    with pytest.raises(ConfigError) as info:
        load_config(Stage, path)
    assert [line.split(":")[0] for line in str(info.value).splitlines()] == [
        f"invalid value for 'name' in {path}",
        f"invalid value for 'seed' in {path}",
    ]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["mode=b", "window.high=0.2"], "invalid config in {path}: mode b needs a window at least 0.5 wide"),
        (["window.low=2"], "invalid section 'window' in {path}: low must not exceed high, got low=2.0 high=1.0"),
    ],
)
def test_checks_across_keys_name_the_section_not_the_input(tmp_path, overrides, message):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(Checked, path, overrides)
    assert str(info.value) == message.format(path=path)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_strict_model_validates_assignment():
    cfg = Stage()
    with pytest.raises(ValueError):
        cfg.seed = "not a number"


def test_round_trip(tmp_path):
    cfg = load_config(Stage, None, ["seed=7", "scoring.tau=0.25", "rollout.temperatures=[0.7, 1.3]", "note=hi"])
    text = dump_config(cfg)
    assert text.splitlines()[0] == "name: grpo"  # field order kept
    assert load_config(Stage, write(tmp_path, text)) == cfg


def test_add_config_args():
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    args = parser.parse_args(["--config", "c.yaml", "--set", "a=1", "--set", "b.c=[1, 2]"])
    assert (args.config, args.overrides) == ("c.yaml", ["a=1", "b.c=[1, 2]"])
    assert parser.parse_args([]).overrides == []
