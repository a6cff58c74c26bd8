"""Rule download_routerbench: one RouterBench file from the Hugging Face Hub, SHA-256 checked."""

import shutil
from pathlib import Path

from dacr.download import fetch_routerbench
from dacr.logs import setup_logging


def main(smk) -> None:
    setup_logging(smk.log[0])
    target = Path(smk.output.pkl)
    path = fetch_routerbench(
        repo_id=smk.params.repo,
        filename=smk.params.filename,
        revision=smk.params.revision,
        local_dir=target.parent,
        sha256=smk.params.sha256,
    )
    if path.resolve() != target.resolve():
        shutil.move(path, target)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821  (injected by Snakemake)
