"""Package a champion for serving: save its booster in the BentoML model store, then build the bento.

Run by the platform in its own process (so BENTOML_HOME is read fresh), as
``python bentos/package.py --model-file booster.ubj --metadata meta.json``; prints one JSON line
``{"model_tag": ..., "bento_tag": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package(model_file: Path, metadata: dict) -> dict[str, str]:
    import bentoml
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(str(model_file))
    model = bentoml.xgboost.save_model(
        "quant-assets-xgb",
        booster,
        metadata=metadata,
        labels={"mlflow_version": str(metadata["model_version"])},
    )
    os.environ["QUANT_MODEL_TAG"] = str(model.tag)  # the service reads it at import, during the build
    sys.path.insert(0, str(PROJECT_ROOT))
    bento = bentoml.bentos.build_bentofile(
        bentofile=str(PROJECT_ROOT / "bentos" / "bentofile.yaml"),
        build_ctx=str(PROJECT_ROOT),
        labels={"mlflow_version": str(metadata["model_version"])},
    )
    return {"model_tag": str(model.tag), "bento_tag": str(bento.tag)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-file", type=Path, required=True)
    parser.add_argument("--metadata", type=Path, required=True, help="JSON file with the model's metadata")
    args = parser.parse_args()
    print(json.dumps(package(args.model_file, json.loads(args.metadata.read_text()))))


if __name__ == "__main__":
    main()
