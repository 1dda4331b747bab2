"""Figures and tables for docs/post_machine.md: the busy-beaver table, the BB(2) token trace, and the
queue-as-window picture (docs/figures/post_machine_window.png).

Run: python scripts/post_machine_figures.py [--quick] [--no-plot]   (--quick: BB(2) and both BB(3) only)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exactformer.constructions import run_turing_machine, turing_machine
from exactformer.languages.compiler import predicted_post_steps
from exactformer.languages.turing import TuringMachine

MACHINES = [
    ("BB(2)", "1RB1LB_1LA1RZ"),
    ("BB(3) steps", "1RB1RZ_1LB0RC_1LC1LA"),
    ("BB(3) ones", "1RB1RZ_0RC1RB_1LC1LA"),
    ("BB(4)", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"),
]


def bb_table(quick: bool) -> str:
    rows = [
        "| machine | TM steps | T | Post steps (reference PM) | transformer tokens | TM steps read off tokens "
        "| ones (TM / transformer) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, text in MACHINES[: 3 if quick else 4]:
        tm = TuringMachine.from_standard(text)
        ref = tm.run(10_000)
        T = ref.width
        c = turing_machine(tm, T)
        pm = c.parameters.compiled.machine.run(c.parameters.queue, 100_000)
        run = run_turing_machine(c)
        assert run.tokens == pm.steps == predicted_post_steps(ref, T)
        rows.append(
            f"| {name} `{text}` | {ref.steps} | {T} | {pm.steps} | {run.tokens} | {run.tm_steps} "
            f"| {ref.ones} / {run.ones} |"
        )
    return "\n".join(rows)


def bb2_trace() -> tuple[str, list]:
    c = turing_machine("1RB1LB_1LA1RZ", 4)
    run = run_turing_machine(c)
    lines = ["| token | pushed | new state | window (queue, front first) |", "|---|---|---|---|"]
    window = list(c.parameters.queue)
    frames = [(list(window), str(c.parameters.compiled.machine.start))]
    for i, (b, p) in enumerate(run.post.tokens, 1):
        window = window[1:] + [b]
        frames.append((list(window), str(p)))
        lines.append(f"| {i} | `{b}` | `{p}` | `{' '.join(window)}` |")
    return "\n".join(lines), frames


def plot_window(frames: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L = len(frames[0][0])
    n = len(frames)
    fig, ax = plt.subplots(figsize=(8, 0.35 * n + 1))
    for t, (window, state) in enumerate(frames):
        for k, s in enumerate(window):
            x = t + k  # absolute token position: prompt tokens 0..L-1, generated tokens L..
            marked = s.endswith("^")
            ax.add_patch(
                plt.Rectangle((x, -t), 1, 0.9, color="#c33" if marked else ("#444" if s[0] == "1" else "#ddd"))
            )
            ax.text(
                x + 0.5,
                -t + 0.45,
                s,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if s[0] == "1" or marked else "black",
            )
        ax.text(t + L + 0.3, -t + 0.45, state, va="center", fontsize=7)
    ax.set_xlim(0, n + L + 4)
    ax.set_ylim(-n, 1)
    ax.set_axis_off()
    ax.set_title(
        "BB(2) through the window decoder: each row is the window (= queue) after one more token;\n"
        "the front (oldest) leaves on the left, the new token enters on the right; ^ = head mark"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    print(bb_table(args.quick))
    print()
    trace, frames = bb2_trace()
    print(trace)
    if not args.no_plot:
        out = Path(__file__).resolve().parents[1] / "docs" / "figures"
        out.mkdir(parents=True, exist_ok=True)
        plot_window(frames, out / "post_machine_window.png")
        print(f"wrote {out / 'post_machine_window.png'}")


if __name__ == "__main__":
    main()
