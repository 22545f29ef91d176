"""EpisodePlayer in a real notebook: a cell records one CartPole episode of an untrained PPO agent and
shows the player. The first frame is a real 600 px PNG; the slider shows a frame's step and return (those
the kernel computed) and writes ``frame`` back; ``player.frame = ...`` from Python seeks the view; the fps
box sets the kernel's ``fps``; Play advances the frames, Pause stops them (and tells the kernel where), and
playing to the end stops on the last frame. The slider's arrow keys and the button's Enter are the widget's,
not JupyterLab's notebook shortcuts'. A frame is shown no larger than it was sent (it
was once stretched to the output's width)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Lab, shot
from .test_dashboard import run_cell, write_notebook

pytestmark = pytest.mark.ui

RECORD = """\
import json
import torch
from dltoolkit import create_data, create_model
from dltoolkit.dashboards import EpisodePlayer

torch.manual_seed(0)
agent = create_model("ppo", data=create_data("cartpole"))  # untrained: the pole falls in ~a dozen steps
player = EpisodePlayer.record(agent, "CartPole-v1", seed=0, max_steps=60, max_width=600)
print("EPISODE " + json.dumps({"steps": player.steps, "rewards": player.rewards, "returns": player.returns}))
player
"""
FRAME = 'print(f"FRAME {player.frame} FPS {player.fps}")'
SEEK = "player.frame = 3"

#: in-page: every distinct (frame, info text) the player shows over ``ms`` milliseconds, sampled each
#: animation frame, in order
SAMPLE = """async ([root, ms]) => {
  const info = root.querySelector('[data-testid="episode-return"]');
  const seen = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const now = root.dataset.frame + '|' + info.textContent;
    if (seen[seen.length - 1] !== now) seen.push(now);
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  return seen;
}"""


def number(value: float) -> str:
    """A number as the widget's ``formatNumber`` writes it (4 significant digits, no trailing zeros)."""
    return f"{value:.4g}"


def cell_output(page: Any, index: int, starts: str) -> str:
    """The text of cell ``index``'s output line that starts with ``starts`` (waited for)."""
    line = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output", has_text=starts)
    line.first.wait_for(timeout=60_000)
    return next(s for s in line.first.inner_text().splitlines() if s.startswith(starts))


def test_episode_player_seeks_plays_and_pauses(page: Any, lab: Lab) -> None:
    name = write_notebook(lab, "episode.ipynb", RECORD, FRAME, SEEK, FRAME, FRAME)
    page.goto(f"{lab.url}lab/workspaces/episode/tree/{name}?reset&token={lab.token}")
    run_cell(page, 0)

    player = page.locator('[data-testid="episode-player"]')
    player.wait_for(timeout=120_000)
    episode = json.loads(cell_output(page, 0, "EPISODE ").removeprefix("EPISODE "))
    steps, rewards, returns = episode["steps"], episode["rewards"], episode["returns"]
    last = len(steps) - 1
    assert last >= 8, f"the episode is too short to test playing: {steps}"
    assert steps == list(range(last + 1))  # every frame sent (a short episode)
    assert returns == [float(s) for s in steps]  # CartPole: reward 1 per step

    def expected(i: int) -> str:
        return f"step {steps[i]}/{steps[-1]} · reward {number(rewards[i])} · return {number(returns[i])}"

    root = player.element_handle()
    image = player.locator('[data-testid="episode-frame"]')
    info = player.locator('[data-testid="episode-return"]')
    play = player.locator('[data-testid="episode-play"]')
    slider = player.locator('[data-testid="episode-slider"]')

    # the first frame: a real CartPole render (600 x 400, kept at max_width=600), its step and return
    assert "CartPole-v1 · seed 0 · PPO" in player.inner_text()
    assert player.get_attribute("data-frame") == "0"
    assert info.inner_text() == expected(0)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [600, 400]
    first_src = image.get_attribute("src") or ""
    assert first_src.startswith("data:image/png;base64,")
    assert slider.get_attribute("max") == str(last) and play.inner_text() == "Play"
    assert player.get_attribute("data-playing") == "false"

    # the slider: frame 7 shows step 7's image, reward and return, and the kernel's `frame` follows
    slider.evaluate("el => { el.value = '7'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert player.get_attribute("data-frame") == "7"
    assert info.inner_text() == expected(7) == f"step 7/{last} · reward 1 · return 7"
    assert (image.get_attribute("src") or "") not in ("", first_src)
    page.wait_for_function("img => img.complete && img.naturalWidth === 600", arg=image.element_handle())
    run_cell(page, 1)
    assert cell_output(page, 1, "FRAME ") == "FRAME 7 FPS 30.0"

    # the slider's arrow keys move it (JupyterLab's notebook shortcuts do not take them: ArrowDown
    # would select the next cell)
    slider.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("el => el.dataset.frame === '5'", arg=root, timeout=5_000)
    assert info.inner_text() == expected(5)
    assert page.evaluate("document.activeElement.dataset.testid") == "episode-slider"

    # Python seeks the view
    run_cell(page, 2)
    page.wait_for_function("el => el.dataset.frame === '3'", arg=root, timeout=30_000)
    assert info.inner_text() == expected(3)

    # a slower speed from the fps box reaches the kernel; Play advances the frames, Pause stops them
    fps = player.locator('[data-testid="episode-fps"]')
    fps.fill("4")
    fps.press("Enter")
    play.click()
    assert play.inner_text() == "Pause" and player.get_attribute("data-playing") == "true"
    page.wait_for_function("el => Number(el.dataset.frame) >= 5", arg=root, timeout=10_000)
    shown = page.evaluate(SAMPLE, [root, 500])  # playing at 4 fps: 1 or 2 more frames in 0.5 s
    frames = [int(s.split("|")[0]) for s in shown]
    assert len(frames) >= 2 and frames == sorted(frames), shown
    assert all(text == expected(int(f)) for f, text in (s.split("|", 1) for s in shown)), shown
    play.click()
    assert play.inner_text() == "Play" and player.get_attribute("data-playing") == "false"
    paused = player.get_attribute("data-frame")
    assert paused is not None and frames[-1] <= int(paused) < last
    still = page.evaluate(SAMPLE, [root, 600])
    assert still == [f"{paused}|{expected(int(paused))}"]
    player.scroll_into_view_if_needed()
    shot(page, "episode-player")
    run_cell(page, 3)
    assert cell_output(page, 3, "FRAME ") == f"FRAME {paused} FPS 4.0"

    # Play again (Enter on the focused button) runs to the end and stops on the last frame, which the
    # kernel learns
    play.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([el, last]) => el.dataset.frame === last && el.dataset.playing === 'false'",
        arg=[root, str(last)],
        timeout=10_000,
    )
    assert play.inner_text() == "Play"
    assert info.inner_text() == expected(last) == f"step {last}/{last} · reward 1 · return {last}"
    run_cell(page, 4)
    assert cell_output(page, 4, "FRAME ") == f"FRAME {last} FPS 4.0"

    errors = [e for e in page.dltoolkit_errors if "dltoolkit" in e or "anywidget" in e]
    assert errors == []


SMALL = """\
from dltoolkit.dashboards import EpisodePlayer

small = EpisodePlayer.record(lambda obs: 0, "CartPole-v1", max_steps=3)  # max_width=300: 300 x 200 frames
small
"""


def test_episode_player_shows_a_frame_no_larger_than_sent(page: Any, lab: Lab) -> None:
    name = write_notebook(lab, "episode-size.ipynb", SMALL)
    page.goto(f"{lab.url}lab/workspaces/episode-size/tree/{name}?reset&token={lab.token}")
    run_cell(page, 0)
    image = page.locator('[data-testid="episode-player"] [data-testid="episode-frame"]')
    image.wait_for(timeout=120_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [300, 200]
    box = image.bounding_box()
    assert box is not None and box["width"] <= 302 and box["height"] <= 202  # (a 1 px border)
