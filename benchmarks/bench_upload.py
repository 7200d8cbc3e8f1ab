"""Benchmark: the worst uploads through the picture pipeline (cnnlab.pictures), as the explorer receives them:
wide, tall and tiny-file-huge-canvas PNGs that must be refused from their header, a drawing that would be padded
to a huge square (fit=frame), and the largest picture still accepted. Prints, per case, the answer, the time and
the peak memory the process added (ru_maxrss, measured in a fresh child process per case so one case's peak does
not hide the next). Prints figures; not a test.

    .venv/bin/python benchmarks/bench_upload.py
"""
import base64
import io
import multiprocessing as mp
import resource
import time


def png(width, height, mode="L", noise=False) -> bytes:
    import numpy as np
    from PIL import Image

    if noise:  # incompressible: the most pixels that fit the 5 MiB byte limit
        shape = (height, width) if mode == "L" else (height, width, 3)
        image = Image.fromarray(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    else:
        image = Image.new(mode, (width, height))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def case(name, data, kind, queue):
    from cnnlab import pictures
    from cnnlab.errors import CnnlabError

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        if kind == "drawing":
            picture = pictures.read_drawing("data:image/png;base64," + base64.b64encode(data).decode(), "frame")
        else:
            picture = pictures.read_upload(data, None, name)
        answer = f"accepted, {'x'.join(map(str, picture.pixels.shape))} pixels"
    except CnnlabError as error:
        answer = f"refused: {str(error)[:70]}"
    seconds = time.perf_counter() - started
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # kB on Linux
    queue.put((answer, seconds, added))


def main():
    cases = [
        ("wide 40000x400 PNG", png(40000, 400), "upload"),
        ("tall 133x120000 PNG", png(133, 120000, mode="1"), "upload"),
        ("120000x133 PNG", png(120000, 133, mode="1"), "upload"),
        ("drawing 40000x400, fit=frame", png(40000, 400), "drawing"),
        ("largest accepted: 4000x4000 grey", png(4000, 4000), "upload"),
        ("largest accepted in 5 MiB: 1250x1250 RGB noise", png(1250, 1250, "RGB", noise=True), "upload"),
    ]
    context = mp.get_context("spawn")
    print(f"{'case':<48} {'file':>9} {'time':>8} {'peak +MB':>9}  answer")
    for name, data, kind in cases:
        queue = context.Queue()
        worker = context.Process(target=case, args=(name, data, kind, queue))
        worker.start()
        answer, seconds, added = queue.get()
        worker.join()
        print(f"{name:<48} {len(data) / 1024:>7.0f}kB {seconds * 1000:>6.0f}ms {added:>9.1f}  {answer}")


if __name__ == "__main__":
    main()
