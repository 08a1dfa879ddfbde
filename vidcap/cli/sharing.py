"""`vidcap export`, `vidcap push` and `vidcap serve`: share a trained model and show it in a web page."""
from __future__ import annotations

import argparse
from pathlib import Path

from vidcap.cli.base import BEAM_SIZE_HELP, Command, model_source, require_model

MODEL_HELP = "a checkpoint written by `vidcap train`, a model folder (`vidcap export`) or hf:org/name[@revision]"


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, metavar="CKPT", help="checkpoint written by `vidcap train` (best.pt)")
    p.add_argument("out", type=Path, metavar="DIR", help="model folder to write (model.safetensors, config.json, "
                                                          "README.md); existing files are replaced")
    p.add_argument("--scores", type=Path, metavar="EVAL.json",
                   help="test scores written by `vidcap eval --json`, for the model card")


def _run_export(args: argparse.Namespace) -> int:
    from vidcap.trained.folder import FILES
    from vidcap.trained.model import export_model
    from vidcap.files import read_json

    scores = read_json(args.scores, "scores file (vidcap eval --json)") if args.scores else None
    out = export_model(args.checkpoint, args.out, scores=scores)
    print(f"wrote {out}: {', '.join(FILES)}")
    return 0


def _add_push(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, metavar="DIR", help="model folder written by `vidcap export`")
    p.add_argument("repo", metavar="org/name", help="Hugging Face Hub model repository (created when missing)")
    p.add_argument("--revision", help="branch to commit to (default: main)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--message", help="commit message")
    p.epilog = "Logs in as huggingface_hub does: HF_TOKEN, or `hf auth login` beforehand."


def _run_push(args: argparse.Namespace) -> int:
    from vidcap.trained.hub import push

    url = push(args.folder, args.repo, revision=args.revision, private=args.private, message=args.message)
    print(f"pushed {args.folder} to {args.repo}: {url}")
    return 0


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    p.add_argument("--device", help="cpu, cuda … (default: cuda when available)")
    p.add_argument("--beam-size", type=int, help=BEAM_SIZE_HELP)
    p.add_argument("--weights", action="append", metavar="[BACKBONE=]WEIGHTS",
                   help="the weights file (or release name) of a backbone whose weights came from a file, "
                        "checked against the identity the model records (as for caption; docs/security.md)")
    p.add_argument("--max-upload-mb", type=float, default=500, help="largest video accepted, in MB (default 500)")


def _run_serve(args: argparse.Namespace) -> int:
    from vidcap.cli.captioning import weights_values
    from vidcap.serve import serve

    require_model(args.model)
    serve(model_source(args.model), host=args.host, port=args.port, device=args.device, beam_size=args.beam_size,
          max_upload_mb=args.max_upload_mb, weights=weights_values(args.weights))
    return 0


COMMANDS = [
    Command("export", "write a checkpoint as a pickle-free model folder (safetensors + JSON + model card)",
            _add_export, _run_export),
    Command("push", "upload a model folder to the Hugging Face Hub", _add_push, _run_push),
    Command("serve", "caption videos in a local web page", _add_serve, _run_serve),
]
