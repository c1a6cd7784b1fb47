"""The README's Lightning-free example runs as written and learns."""

from __future__ import annotations

import re

from conftest import REPO


def test_readme_example_runs(capsys):
    readme = (REPO / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    rate, distortion = namespace["terms"].rate.mean(), namespace["terms"].distortion.mean()
    assert "R = " in capsys.readouterr().out
    assert 0 <= rate and 0 < distortion < 64 * 0.7  # learnt: below coin flips (64 log 2 nats)
    assert namespace["images"].shape == (16, 1, 8, 8)
    assert namespace["nll"] < rate + distortion + 0.5
