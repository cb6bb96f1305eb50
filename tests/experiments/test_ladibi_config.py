"""LADiBI config presets and the trainer's one-line errors (no training here)."""
import pytest

from experiments.configs import ladibi as configs
from experiments.errors import UserError
from experiments.trainers import ladibi, ladibi_restore
from jaxdiff.ladibi import posterior


@pytest.mark.parametrize("preset", configs.PRESETS)
def test_every_preset_builds(preset):
  c = configs.get_config(preset)
  assert c.trainer == "ladibi"
  if c.stage == "restore":
    assert c.restore.task in configs.TASKS
    posterior.PosteriorConfig.from_config(c.posterior)  # every key is a PosteriorConfig field
  else:
    assert c.train.num_steps % c.train.steps_per_call == 0


def test_unknown_stage_and_method_are_one_line(tmp_path):
  c = configs.get_config("prior-smoke")
  c.stage = "posterior"
  with pytest.raises(UserError, match="config.stage must be 'prior' or 'restore'"):
    ladibi.train_and_evaluate(c, str(tmp_path))
  c = configs.get_config("smoke")
  c.restore.methods = "ladibi,dps"
  with pytest.raises(UserError, match=r"restore.methods: unknown \['dps'\]"):
    ladibi_restore.restore_and_evaluate(c, str(tmp_path))


def test_bad_dataset_is_one_line():
  c = configs.get_config("prior-folder")
  c.data.path = "/no/such/folder"
  with pytest.raises(UserError, match="^config.data: "):
    ladibi.make_dataset(c)
