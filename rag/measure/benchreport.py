"""How `rag bench --passages` reports: a Markdown table and a PNG of each figure against N."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = {  # table column -> result key; the plot draws the same figures
    "load s": "pipeline_load_s",
    "BM25 load s": "bm25_load_s",
    "retrieve p50/p95 ms": "retrieve",
    "ask cold p50/p95 ms": "ask_cold",
    "ask warm p50/p95 ms": "ask_warm",
    "concurrent p50/p95 ms": "ask_concurrent",
    "RSS MB": "rss_mb",
    "index MB": "index_mb",
    "read all s": "chroma_read_all_s",
    "BM25 rebuild s": "bm25_build_s",
    "add 1 article s": "ingest_one_article_s",
    "delete 1 article s": "delete_one_article_s",
}
PANELS = {
    "latency (ms)": [
        "retrieve_p50_ms",
        "ask_cold_p50_ms",
        "ask_cold_p95_ms",
        "ask_concurrent_p95_ms",
    ],
    "time (s)": [
        "pipeline_load_s",
        "bm25_load_s",
        "chroma_read_all_s",
        "bm25_build_s",
        "ingest_one_article_s",
        "delete_one_article_s",
    ],
    "memory and disk (MB)": ["rss_mb", "index_mb", "bm25_snapshot_mb"],
}


def table(result: dict[str, Any]) -> str:
    """A Markdown table, one row per archive size, then how the archives were made."""
    lines = ["| passages | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for row in result["sizes"]:
        cells = [
            f"{row[key + '_p50_ms']:.0f} / {row[key + '_p95_ms']:.0f}"
            if key + "_p50_ms" in row
            else f"{row[key]:g}"
            for key in COLUMNS.values()
        ]
        lines.append(f"| {row['passages']:,} | " + " | ".join(cells) + " |")
    ratio = (
        f"ingest {result['ingest_passages_per_s']} passages/s = "
        f"{result['ingest_to_encoder_ratio']} x the bare encoder ({result['encoder_passages_per_s']}/s)"
    )
    return "\n".join(
        [*lines, "", f"{result['model']} on {result['device']}; {ratio}", result["method"]]
    )


def plot(result: dict[str, Any], path: Path) -> None:
    """Each figure against the archive size (log scale), one panel per unit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["sizes"]
    sizes = [row["passages"] for row in rows]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    for ax, (title, keys) in zip(axes, PANELS.items(), strict=True):
        for key in keys:
            ax.plot(sizes, [row[key] for row in rows], marker="o", label=key)
        ax.set(xscale="log", xlabel="passages", title=title)
        if title.startswith("latency"):  # from tens of ms to tens of seconds
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"rag bench: {result['model']} on {result['device']}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
