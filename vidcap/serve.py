"""``vidcap serve``: a local web page (Gradio) that captions a dropped video file.

Drop or choose a video; the page shows progress while it is decoded and captioned, then the caption,
the per-segment captions on a timeline with their timestamps, the contact sheet (with the per-word
attention strip for attention decoders) and SRT / WebVTT / JSON downloads. A file that cannot be read
is an error shown in the page; the server keeps serving.

It captions uploads only. Each server gets its own upload area (Gradio's ``GRADIO_TEMP_DIR``, a fresh
private folder), so Gradio itself refuses a request whose file is anywhere else — a file of the server,
or another server's upload in the machine-wide ``/tmp/gradio`` — before reading or copying it, and the
captioning function checks it again (:func:`uploaded`). The folder and the results go when the server
stops, on Ctrl-C and on SIGTERM alike.

It binds to 127.0.0.1 unless told otherwise, limits the upload size (``max_upload_mb``), and runs
offline: no analytics or version check (``GRADIO_ANALYTICS_ENABLED=False``), no share link, no
server-side rendering, and a theme of system fonts only, so the page fetches nothing from outside the
server. Gradio is an optional dependency: ``pip install 'vidcap[serve]'``.

Example:
    $ vidcap serve --model runs/sa/best.pt            # then open http://127.0.0.1:7860
    >>> result = caption_video(captioner, "clip.mp4", "out/", segment="scenes")   # doctest: +SKIP
    >>> result.caption, [p.name for p in result.downloads]                        # doctest: +SKIP
    ('a man is cooking', ['clip.srt', 'clip.vtt', 'clip.json'])
"""
from __future__ import annotations

import html
import importlib
import logging
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vidcap.errors import UsageError, VidcapError
from vidcap.files import write_json
from vidcap.inference.captioner import Captioner
from vidcap.outputs import Segment, save_preview, write_srt, write_vtt
from vidcap.trained.hub import is_hub_id

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "PageResult", "SEGMENT_CHOICES", "build_page", "caption_video", "serve",
           "timeline_html"]

DEFAULT_MAX_UPLOAD_MB = 500
# The page's segment choices → Captioner.describe's ``segment`` (given the window length in seconds)
SEGMENT_CHOICES: dict[str, Callable[[float], float | str | None]] = {
    "shots (scene cuts)": lambda seconds: "scenes",
    "fixed windows": lambda seconds: float(seconds),
    "whole video only": lambda seconds: None,
}


@dataclass
class PageResult:
    """What the page shows for one video."""

    caption: str
    segments: list[Segment]
    duration: float
    sheet: Path
    downloads: list[Path]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(float(seconds), 60.0)
    return f"{int(minutes)}:{secs:05.2f}"


def timeline_html(segments: list[Segment], duration: float) -> str:
    """The segments as a proportional bar plus a list of ``start – end  caption`` lines (HTML).

    Example:
        >>> "0:04.00" in timeline_html([Segment(0, 4, "a dog <runs>"), Segment(4, 8, "it sits")], 8.0)
        True
        >>> "&lt;runs&gt;" in timeline_html([Segment(0, 4, "a dog <runs>")], 4.0)
        True
    """
    total = max(duration, segments[-1].end if segments else 0.0) or 1.0
    colours = ("#ff8c00", "#3b82f6")
    bar = "".join(
        f'<div class="vc-seg" title="{_clock(s.start)} – {_clock(s.end)}: {html.escape(s.caption)}" '
        f'style="width:{100 * (s.end - s.start) / total:.3f}%;background:{colours[i % 2]}"></div>'
        for i, s in enumerate(segments))
    rows = "".join(
        f'<li class="vc-cue"><span class="vc-time">{_clock(s.start)} – {_clock(s.end)}</span> '
        f'<span class="vc-text">{html.escape(s.caption)}</span></li>' for s in segments)
    return (f'<div class="vc-timeline"><div class="vc-bar" style="display:flex;height:14px;gap:1px">{bar}</div>'
            f'<ol class="vc-cues" style="list-style:none;padding-left:0">{rows}</ol></div>')


def caption_video(captioner: Captioner, video: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                  segment: float | str | None = "scenes", beam_size: int | None = None, attention: bool = False,
                  progress: Callable[[float, str], object] | None = None, name: str | None = None,
                  model_name: str | None = None) -> PageResult:
    """Caption ``video`` and write its contact sheet and downloads (``<name>.srt/.vtt/.json/.png``) into
    ``out_dir``; what the page shows, without the page. ``model_name`` is what the JSON calls the model
    (default: where the captioner was loaded from).

    Example:
        >>> caption_video(captioner, "clip.mp4", "out/").sheet                         # doctest: +SKIP
        PosixPath('out/clip.png')
    """
    stem = Path(name or video).stem or "video"
    out = Path(out_dir)
    described = captioner.describe(video, beam_size=beam_size, segment=segment, attention=attention,
                                   progress=progress)
    segments = [Segment(*span) for span in described.segments]
    clip = described.clip
    sheet = save_preview(out / f"{stem}.png", clip.frames, clip.timestamps, described.caption,
                         attention=described.attention)
    record = {"video": Path(name or video).name, "caption": described.caption,
              "model": model_name or captioner.source,
              "segments": [{"start": s.start, "end": s.end, "caption": s.caption} for s in segments]}
    downloads = [write_srt(out / f"{stem}.srt", segments), write_vtt(out / f"{stem}.vtt", segments),
                 write_json(out / f"{stem}.json", record)]
    return PageResult(described.caption, segments, clip.info.duration, sheet, downloads)


def uploaded(path: str | os.PathLike[str], upload_dir: str | os.PathLike[str]) -> Path:
    """``path`` when it lies inside ``upload_dir`` (links resolved), else UsageError: the page captions
    files uploaded to this server, never a file of the server a client names.

    Example:
        >>> uploaded("/srv/up/1f/clip.mp4", "/srv/up")
        PosixPath('/srv/up/1f/clip.mp4')
        >>> uploaded("/etc/passwd", "/srv/up")
        Traceback (most recent call last):
        ...
        vidcap.errors.UsageError: refused: passwd was not uploaded to this page; upload the video instead
    """
    resolved, area = Path(path).resolve(), Path(upload_dir).resolve()
    if not resolved.is_relative_to(area):
        raise UsageError(f"refused: {Path(path).name} was not uploaded to this page; upload the video instead")
    return resolved


def _uploads_only(gr: Any, move: Callable[..., Any]) -> Callable[..., Any]:
    """The video input's step that brings a request's file into Gradio's cache, refusing a URL (Gradio
    would download it: the server fetching what a client names) before anything is fetched; local paths
    go on to Gradio's own check that they were uploaded here."""
    async def guarded(url_or_file_path: Any) -> Any:
        text = str(url_or_file_path)
        if "://" in text:
            raise gr.Error(f"refused: {text.rsplit('/', 1)[-1] or text} is a URL, not an upload; upload the "
                           "video instead", duration=None)
        return await move(url_or_file_path)
    return guarded


def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, no version check
    try:
        return importlib.import_module("gradio")
    except ImportError:
        raise UsageError("vidcap serve needs Gradio: pip install 'vidcap[serve]' (or pip install gradio)") from None


def build_page(captioner: Captioner, work_dir: str | os.PathLike[str], *, beam_size: int | None = None,
               model_name: str = "the model") -> Any:
    """The Gradio Blocks of the page; results go to fresh folders under ``work_dir``. The page names the
    model ``model_name`` (not the server's paths)."""
    gr = _gradio()
    attends = captioner.model.attends_to_frames()

    def run(video: str | None, segmenting: str, seconds: float, attention: bool,
            progress: Any = gr.Progress()) -> tuple[Any, ...]:
        if not video:
            raise gr.Error("Drop or choose a video file first.")
        name = Path(video).name
        try:
            video = str(uploaded(video, gr.utils.get_upload_folder()))
            segment = SEGMENT_CHOICES[segmenting](seconds)
            result = caption_video(captioner, video, tempfile.mkdtemp(dir=work_dir), segment=segment,
                                   beam_size=beam_size, attention=attention and attends, name=name,
                                   model_name=model_name,
                                   progress=lambda fraction, message: progress(fraction, desc=message))
        except VidcapError as err:  # the upload's folder is the server's business, its name is the user's
            raise gr.Error(str(err).replace(str(video), name), duration=None) from None
        return (result.caption, timeline_html(result.segments, result.duration), str(result.sheet),
                [str(p) for p in result.downloads])

    # Uploads and results live in Gradio's cache: files older than an hour go, and all of them at a restart.
    with gr.Blocks(title="vidcap", analytics_enabled=False, delete_cache=(600, 3600)) as page:
        gr.Markdown(f"# vidcap\nCaption a video with `{html.escape(model_name)}`. Drop or choose a file; "
                    "it is captioned as soon as it is uploaded.")
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="Video", sources=["upload"], elem_id="video")
                video.async_move_resource_to_block_cache = _uploads_only(gr, video.async_move_resource_to_block_cache)
                segmenting = gr.Radio(list(SEGMENT_CHOICES), value="shots (scene cuts)", label="Segments")
                seconds = gr.Number(value=10.0, minimum=0.5, label="Window length (s), for fixed windows")
                attention = gr.Checkbox(value=attends, visible=attends, label="Attention strip under the sheet")
                button = gr.Button("Caption again", variant="primary")
            with gr.Column(scale=2):
                caption = gr.Textbox(label="Caption", elem_id="caption", interactive=False)
                timeline = gr.HTML(label="Segments", elem_id="timeline")
                sheet = gr.Image(label="Contact sheet", type="filepath", elem_id="sheet", interactive=False)
                downloads = gr.File(label="Downloads (SRT, WebVTT, JSON)", file_count="multiple",
                                    elem_id="downloads", interactive=False)
        inputs, outputs = [video, segmenting, seconds, attention], [caption, timeline, sheet, downloads]
        video.upload(run, inputs, outputs)
        button.click(run, inputs, outputs)
    return page


def serve(model: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int | None = None,
          device: str | None = None, beam_size: int | None = None, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
          weights: Any = None) -> None:
    """Load ``model`` (checkpoint, model folder or ``hf:`` id) and serve the page until interrupted.

    Example:
        >>> serve("models/sa", port=7860)                                               # doctest: +SKIP
    """
    if not (isinstance(max_upload_mb, (int, float)) and max_upload_mb > 0):
        raise UsageError(f"--max-upload-mb must be a positive number, got {max_upload_mb!r}")
    gr = _gradio()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own requests to itself, one line each
    captioner = Captioner.from_pretrained(model, device=device, weights=weights)
    # SIGTERM (a service manager, `kill`) ends the server like Ctrl-C: Gradio closes, the folders go.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="vidcap-serve-") as work_dir, \
            tempfile.TemporaryDirectory(prefix="vidcap-uploads-") as upload_dir:
        os.environ["GRADIO_TEMP_DIR"] = upload_dir  # this server's own upload area (read by Gradio per request)
        shown = str(model) if is_hub_id(model) else Path(model).name  # a Hub id, or a file or folder name
        page = build_page(captioner, work_dir, beam_size=beam_size, model_name=shown)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"vidcap serve: listening on {host}: anyone who can reach this machine can use the page")
        page.queue(default_concurrency_limit=1)  # one model, one video at a time
        page.launch(server_name=host, server_port=port, share=False, ssr_mode=False, inbrowser=False,
                    max_file_size=f"{int(max_upload_mb * 1024 * 1024)}b", allowed_paths=[work_dir],
                    enable_monitoring=False, mcp_server=False, run_history=False, show_error=True,
                    footer_links=["api"],
                    theme=gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                                            font_mono=["ui-monospace", "monospace"]))
    signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
