"""The README's two set-up commands exist, and CI runs the test command verbatim."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bash_blocks():
  text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
  return re.findall(r"```bash\n(.*?)\n```", setup, re.S)


def test_two_setup_commands():
  blocks = _bash_blocks()
  assert len(blocks) == 2
  main, tests = blocks
  assert "python -m experiments.main --config experiments/configs/" in main
  assert "pytest" in tests


def test_ci_runs_readme_test_command_verbatim():
  ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
  assert _bash_blocks()[1] in ci.splitlines()


def test_main_job_config_exists():
  path = re.search(r"--config (\S+?):(\w+)", _bash_blocks()[0])
  assert os.path.exists(os.path.join(ROOT, path.group(1)))
