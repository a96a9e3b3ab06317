"""`python -m ncsn bench` (also `python -m ncsn.perf.bench`): speed of the score networks on this machine.

For every architecture and size of the configs (default config/quick.yaml and config/config.yaml; or
of --config-json, as the workflow's `throughput` rule calls it), or the sizes given with --size:
  training      images/s of one DSM step as the training loop takes it (loss, backward, Adam, EMA),
                batch --train-batch;
  sampling      score evaluations/s: forward passes in eval and inference mode, batch --sample-batch;
  peak memory   of building the network, one training step and one evaluation;
  FLOPs         of one forward pass (torch.utils.flop_counter on PyTorch's forms of the layers:
                convolutions, NNPACK's counted as the direct convolutions they compute, and matrix
                products), and
                the achieved GFLOP/s (a training step counted as 3 forward passes), beside the
                machine's dense-convolution rate measured the same way (a large 3x3 conv2d).

Our network is timed beside its plain twin, `ours+plain` (PyTorch's forms of the layers that run native
here: the U-Net's group norm + SiLU, its 3 x 3 convolutions without autograd and its last convolution, the
reference network's normalisation + ELU and 5 x 5 pooling; ncsn.models.forms), in the same
process on the same inputs, round by round; "x plain" is ours's speed over the twin's (ratio of the
medians, with the lowest and highest ratio of a single round in brackets). --no-plain leaves it out.
Beside both runs `ours+trace`, our network as the frozen TorchScript trace that sampling uses on the CPU
(ncsn.models.compiled.traced_score_fn); "x eager" is its sampling speed over ours's. Its training column
is eager's (a trace serves inference only). --no-trace leaves it out.

With --official PATH (a checkout of ermongroup/ncsn) the official CondRefineNetDilated of the same
width is timed beside our reference network (dropout-free sizes), in the same process on the same
inputs, the competitors taking turns round by round, and ours/official ratios are printed (of the
medians, with the lowest and highest ratio of a single round in brackets: the machine's noise).  With
--compile our network under torch.compile competes too (compile time excluded, reported); with --bf16
our network under bf16 autocast (both: also compiled under autocast). Under bf16 the training column
times a DSM step with the forward pass under autocast, which the study does not do (it trains in
float32); the sampling column is what `sampler.bf16` gives.

With --side-by-side, each size is also timed as --threads one-thread processes working at once against one
process on --threads threads (ncsn.perf.side_by_side): the choice the workflow's `threads_per_job` makes.

Processes: peak memory is measured in a fresh process per network (on CUDA the peak allocated by
PyTorch, on the CPU the peak resident set above the one before building: ncsn.perf.rss), timing in
one process per size; with our network alone, memory and then timing share one process.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ncsn.allocator import huge_pages_asked, keep_freed_memory
from ncsn.cli_options import add_run_options
from ncsn.config import load_config
from ncsn.device import resolve_device
from ncsn.models.compiled import bf16_autocast, compile_score_fn, traced_score_fn
from ncsn.models.forms import plain_forms
from ncsn.models.registry import build_model, count_parameters
from ncsn.noise import geometric_sigmas
from ncsn.perf import side_by_side
from ncsn.perf.flops import conv_peak_gflops, forward_flops_per_image
from ncsn.perf.official import LevelIndexed, build_official, load_official_module
from ncsn.perf.rss import current_rss_mib, peak_rss_mib, reset_peak_rss
from ncsn.perf.timing import round_seconds, score_evaluation, synchronize, training_step
from ncsn.torch_files import write_text_atomic

REPOSITORY = Path(__file__).resolve().parents[3]  # src/ncsn/perf/bench.py -> the checkout
DEFAULT_CONFIGS = [REPOSITORY / "config" / "quick.yaml", REPOSITORY / "config" / "config.yaml"]
DEFAULT_NOISE = {"sigma_max": 1.0, "sigma_min": 0.01, "n_levels": 10}


def images(batch: int, device: torch.device) -> torch.Tensor:
    """A fixed batch of random 28 x 28 images in [0, 1]."""
    return torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)


def sizes_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The distinct (arch, width, dropout, noise levels) of a config's variants."""
    seen, sizes = set(), []
    for entry in config["variants"].values():
        noise = entry.get("noise", config["noise"])
        key = (entry["arch"], entry["width"], entry["dropout"], noise["n_levels"])
        if key not in seen:
            seen.add(key)
            sizes.append(
                {
                    "profile": config["profile"],
                    "arch": entry["arch"],
                    "width": entry["width"],
                    "dropout": entry["dropout"],
                    "noise": noise,
                }
            )
    return sizes


def parse_size(text: str) -> dict[str, Any]:
    """ARCH:WIDTH[:DROPOUT], e.g. refinenet:64 (10 geometric levels from 1 to 0.01)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--size {text!r}: expected ARCH:WIDTH[:DROPOUT], e.g. refinenet:64")
    return {
        "profile": "cli",
        "arch": parts[0],
        "width": int(parts[1]),
        "dropout": float(parts[2]) if len(parts) == 3 else 0.0,
        "noise": DEFAULT_NOISE,
    }


def competitors(
    size: dict[str, Any],
    official: Path | None,
    compile_ours: bool,
    bf16: bool = False,
    plain: bool = True,
    trace: bool = True,
) -> list[str]:
    """ours, official (a dropout-free reference network, with a checkout), and ours's variants:
    ours+plain (unless plain=False), ours+trace (the sampling path of the CPU, unless trace=False),
    ours+compile, ours+bf16, ours+compile+bf16 as the switches ask."""
    names = ["ours"]
    if plain:
        names.append("ours+plain")
    if trace:
        names.append("ours+trace")
    if official is not None and size["arch"] == "refinenet" and size["dropout"] == 0:
        names.append("official")
    if compile_ours:
        names.append("ours+compile")
    if bf16:
        names.append("ours+bf16")
    if compile_ours and bf16:
        names.append("ours+compile+bf16")
    return names


def plain_score_fn(model: torch.nn.Module):
    """`model` computing PyTorch's plain forms of its layers (ncsn.models.forms)."""

    def score_fn(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        with plain_forms():
            return model(x, sigma)

    return score_fn


def wrapped_score_fn(name: str, model: torch.nn.Module, device: torch.device):
    """The score function of an ours+... competitor over `model`; None (the module itself) for the others."""
    if "+" not in name:
        return None
    if name == "ours+plain":
        return plain_score_fn(model)
    if name == "ours+trace":
        return traced_score_fn(model)
    score_fn = compile_score_fn(model) if "+compile" in name else model
    return bf16_autocast(score_fn, device.type) if name.endswith("+bf16") else score_fn


def memory_key(name: str) -> str:
    """The competitor whose peak memory a row reports: a compiled network's is its eager twin's, and
    the plain and traced twins' are ours's (not measured apart)."""
    return name.replace("+compile", "").replace("+plain", "").replace("+trace", "")


def build(name: str, size: dict[str, Any], device: torch.device, official: Path | None):
    """(score network as score_fn module, the module whose parameters count) for competitor `name`."""
    noise = size["noise"]
    sigmas = geometric_sigmas(noise["sigma_max"], noise["sigma_min"], noise["n_levels"]).to(device)
    if name == "official":
        net = LevelIndexed(build_official(official, size["width"], len(sigmas)), sigmas).to(device)
    else:
        net = build_model(size["arch"], sigmas=sigmas, width=size["width"], dropout=size["dropout"]).to(device)
    return net, sigmas


def measure_memory(
    name: str, size: dict[str, Any], device: str, official: Path | None, train_batch: int, sample_batch: int
) -> dict[str, Any]:
    """Params, forward FLOPs per image and the peak memory of one training step and one evaluation."""
    torch.manual_seed(0)
    dev = torch.device(device)
    how = reset_peak_rss() if dev.type == "cpu" else ""
    rss_before = current_rss_mib(how) if dev.type == "cpu" else 0.0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    net, sigmas = build(name, size, dev, official)
    score_fn = wrapped_score_fn(name, net, dev)
    training_step(net, sigmas, images(train_batch, dev), score_fn)()
    score_evaluation(net, sigmas, images(sample_batch, dev), score_fn)()
    synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else peak_rss_mib(how) - rss_before
    return {
        "params": count_parameters(net),
        "gflop_per_image": forward_flops_per_image(net, sigmas) / 1e9,
        "peak_mib": peak,
    }


def _competitor_nets(
    names: list[str], size: dict[str, Any], dev: torch.device, official: Path | None
) -> dict[str, tuple[Any, torch.Tensor, Any]]:
    """name -> (module, sigmas, score_fn): every ours+... competitor wraps ours's module."""
    nets = {}
    for name in names:
        if "+" in name:
            model, sigmas = nets["ours"][:2]
            nets[name] = (model, sigmas, wrapped_score_fn(name, model, dev))
        else:
            nets[name] = (*build(name, size, dev, official), None)
    return nets


def measure_speed(
    names: list[str],
    size: dict[str, Any],
    device: str,
    official: Path | None,
    train_batch: int,
    sample_batch: int,
    rounds: int,
) -> dict[str, dict[str, float]]:
    """images/s of training and evaluations/s of sampling per competitor, timed in alternation."""
    torch.manual_seed(0)
    dev = torch.device(device)
    nets = _competitor_nets(names, size, dev, official)
    result: dict[str, dict[str, float]] = {name: {} for name in names}
    x_train, x_sample = images(train_batch, dev), images(sample_batch, dev)  # the same for every competitor
    for name in (n for n in names if "+compile" in n):  # compile the training and inference graphs first
        start = time.perf_counter()
        training_step(*nets[name][:2], x_train, nets[name][2])()
        score_evaluation(*nets[name][:2], x_sample, nets[name][2])()
        result[name]["compile_s"] = time.perf_counter() - start
    train = round_seconds({n: training_step(m, s, x_train, f) for n, (m, s, f) in nets.items()}, rounds, dev)
    sample = round_seconds({n: score_evaluation(m, s, x_sample, f) for n, (m, s, f) in nets.items()}, rounds, dev)
    for name in names:
        result[name].update(
            train_images_per_s=train_batch / statistics.median(train[name]),
            sample_evals_per_s=sample_batch / statistics.median(sample[name]),
        )
        for baseline, key in RATIO_BASELINES.items():
            if baseline in names and _compared_with(baseline, name):
                result[name].update(
                    **_round_ratio_range(f"train_vs_{key}", train[name], train[baseline]),
                    **_round_ratio_range(f"sample_vs_{key}", sample[name], sample[baseline]),
                )
    return result


# baseline competitor -> the name its ratios carry ("x official", "x plain", "x eager")
RATIO_BASELINES = {"official": "official", "ours+plain": "plain", "ours": "eager"}


def _compared_with(baseline: str, name: str) -> bool:
    """Every other competitor is compared with the official network; ours with its plain twin; the traced
    network with ours run eagerly (its training column is eager too: a trace serves inference only)."""
    if baseline == "official":
        return name != baseline
    if baseline == "ours":
        return name == "ours+trace"
    return name == "ours"


def _round_ratio_range(key: str, ours: list[float], baseline: list[float]) -> dict[str, float]:
    """Lowest and highest speed ratio to a baseline over the rounds (its time / ours, round by round):
    how far a noisy machine moves the ratio that the medians give."""
    ratios = [theirs / mine for mine, theirs in zip(ours, baseline)]
    return {f"{key}_min": min(ratios), f"{key}_max": max(ratios)}


def ours_calls(size: dict[str, Any], device: str, train_batch: int, sample_batch: int) -> dict[str, Callable[[], None]]:
    """Our network's training step and score evaluation, each synchronised: the calls that
    ncsn.perf.side_by_side times in its worker processes."""
    dev = torch.device(device)
    model, sigmas = build("ours", size, dev, None)
    train = training_step(model, sigmas, images(train_batch, dev))
    sample = score_evaluation(model, sigmas, images(sample_batch, dev))

    def synchronised(call: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            call()
            synchronize(dev)

        return run

    return {"train": synchronised(train), "sample": synchronised(sample)}


def measure_alone(
    names: list[str], size: dict[str, Any], device: str, train_batch: int, sample_batch: int, rounds: int
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Memory of our network, then the speed of `names` (ours and its plain twin), in one process
    (memory first: its peak is the growth from this process's start). One process start per size
    instead of two."""
    memory = measure_memory("ours", size, device, None, train_batch, sample_batch)
    return memory, measure_speed(names, size, device, None, train_batch, sample_batch, rounds)


def _child(queue, threads: int, function, kwargs) -> None:
    keep_freed_memory()  # as in the CLI process that spawned this one
    torch.set_num_threads(threads)
    try:
        queue.put(function(**kwargs))
    except Exception as err:  # hand it to the parent, which would otherwise wait forever
        queue.put(err)
        raise


def in_fresh_process(threads: int, function, **kwargs):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue, threads, function, kwargs))
    child.start()
    result = queue.get()
    child.join()
    if isinstance(result, Exception):
        raise result
    return result


def size_rows(
    size: dict[str, Any],
    speed: dict[str, dict[str, float]],
    memory: dict[str, dict[str, Any]],
    peak_gflops: float,
    common: dict[str, Any],
) -> list[dict[str, Any]]:
    """One row per competitor; ours carries the ratios to the official network when it was timed."""
    rows = []
    for name, timed in speed.items():
        mem = memory[memory_key(name)]
        gflop = mem["gflop_per_image"]
        row = {
            "profile": size["profile"],
            "arch": size["arch"],
            "width": size["width"],
            "dropout": size["dropout"],
            "network": name,
            **common,
            **mem,
            **timed,
            "train_gflops": 3 * gflop * timed["train_images_per_s"],
            "sample_gflops": gflop * timed["sample_evals_per_s"],
            "conv_peak_gflops": peak_gflops,
        }
        row["train_pct_peak"] = 100 * row["train_gflops"] / peak_gflops
        row["sample_pct_peak"] = 100 * row["sample_gflops"] / peak_gflops
        rows.append(row)
    for baseline, key in RATIO_BASELINES.items():
        if baseline not in speed:
            continue
        for row in rows:
            if _compared_with(baseline, row["network"]):
                row[f"train_vs_{key}"] = row["train_images_per_s"] / speed[baseline]["train_images_per_s"]
                row[f"sample_vs_{key}"] = row["sample_evals_per_s"] / speed[baseline]["sample_evals_per_s"]
    return rows


COLUMNS = [  # (header, key, format)
    ("profile", "profile", "{}"),
    ("arch", "arch", "{}"),
    ("width", "width", "{}"),
    ("dropout", "dropout", "{:g}"),
    ("network", "network", "{}"),
    ("params", "params", "{:,}"),
    ("peak MiB", "peak_mib", "{:.0f}"),
    ("GFLOP/img", "gflop_per_image", "{:.3f}"),
    ("train images/s", "train_images_per_s", "{:.1f}"),
    ("train GFLOP/s", "train_gflops", "{:.1f}"),
    ("% peak", "train_pct_peak", "{:.0f}"),
    ("x plain", "train_vs_plain", "{:.2f}"),
    ("x official", "train_vs_official", "{:.2f}"),
    ("sample eval/s", "sample_evals_per_s", "{:.1f}"),
    ("sample GFLOP/s", "sample_gflops", "{:.1f}"),
    ("% peak ", "sample_pct_peak", "{:.0f}"),
    ("x plain ", "sample_vs_plain", "{:.2f}"),
    ("x eager", "sample_vs_eager", "{:.2f}"),
    ("x official ", "sample_vs_official", "{:.2f}"),
]


def _cell(row: dict[str, Any], key: str, fmt: str) -> str:
    if row.get(key) is None:
        return "-"
    text = fmt.format(row[key])
    if f"{key}_min" in row:  # a ratio: with its range over the rounds
        text += f" ({row[f'{key}_min']:.2f}-{row[f'{key}_max']:.2f})"
    return text


def format_table(rows: list[dict[str, Any]]) -> str:
    cells = [[_cell(r, key, fmt) for _, key, fmt in COLUMNS] for r in rows]
    header = [h for h, _, _ in COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) for v, w in zip(values, widths))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """All fields of the rows, replacing `path` in one step (a bench killed mid-size keeps the sizes done)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(buffer.getvalue(), path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--configs",
        nargs="+",
        type=Path,
        default=DEFAULT_CONFIGS,
        help="configs whose variant sizes are measured (default: quick and full)",
    )
    parser.add_argument(
        "--config-json",
        default=None,
        metavar="JSON",
        help="measure the sizes of this config (as JSON; what the throughput rule passes) instead",
    )
    parser.add_argument(
        "--size",
        action="append",
        type=parse_size,
        default=None,
        metavar="ARCH:WIDTH[:DROPOUT]",
        help="measure this size instead of the configs' (repeatable), e.g. --size refinenet:64",
    )
    parser.add_argument(
        "--official",
        type=Path,
        default=None,
        metavar="PATH",
        help="checkout of ermongroup/ncsn: time its CondRefineNetDilated beside ours",
    )
    parser.add_argument("--compile", action="store_true", help="also time our network under torch.compile")
    parser.add_argument(
        "--bf16", action="store_true", help="also time our network under bf16 autocast (with --compile: also both)"
    )
    parser.add_argument(
        "--no-plain",
        dest="plain",
        action="store_false",
        help="do not time the plain twin of our network (PyTorch's own forms of its layers)",
    )
    parser.add_argument(
        "--no-trace",
        dest="trace",
        action="store_false",
        help="do not time our network as the frozen TorchScript trace that sampling runs on the CPU",
    )
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="also time our network as --threads one-thread jobs at once against one job on --threads threads "
        "(ncsn.perf.side_by_side; what the workflow's threads_per_job chooses between)",
    )
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds per competitor (after one warm-up); medians"
    )
    add_run_options(parser, seed=False, threads_default=torch.get_num_threads(), threads_help="CPU threads of PyTorch")
    parser.add_argument(
        "--csv", type=Path, default=None, help="also write the table here (all fields), rewritten after every size"
    )


def resolve_sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The sizes to measure: --size, else those of --config-json, else those of --configs."""
    if args.size:
        return args.size
    if args.config_json:
        return sizes_of(json.loads(args.config_json))
    return [s for path in args.configs for s in sizes_of(load_config(path))]


def measure_size(
    size: dict[str, Any], names: list[str], settings: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Memory (per network) and speed (per competitor) of one size, each in a fresh process.
    `settings`: device, threads, official, rounds, train_batch, sample_batch."""
    threads, device, official = settings["threads"], settings["device"], settings["official"]
    batches = dict(train_batch=settings["train_batch"], sample_batch=settings["sample_batch"])
    if set(names) <= {"ours", "ours+plain", "ours+trace"}:
        ours, speed = in_fresh_process(
            threads, measure_alone, names=names, size=size, device=device, rounds=settings["rounds"], **batches
        )
        return {"ours": ours}, speed
    memory = {
        name: in_fresh_process(
            threads, measure_memory, name=name, size=size, device=device, official=official, **batches
        )
        for name in names
        if memory_key(name) == name
    }
    speed = in_fresh_process(
        threads,
        measure_speed,
        names=names,
        size=size,
        device=device,
        official=official,
        rounds=settings["rounds"],
        **batches,
    )
    return memory, speed


def compute(
    sizes: list[dict[str, Any]],
    settings: dict[str, Any],
    log: Callable[[str], None] = lambda msg: None,
    measured: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One row per (size, competitor) and the machine's dense-convolution rate. `settings`: device,
    threads, official (a checkout or None), compile, bf16, rounds, train_batch, sample_batch.
    `measured` is called with the rows so far after every size."""
    device = settings["device"]
    peak = in_fresh_process(settings["threads"], conv_peak_gflops, device=torch.device(device))
    log(f"dense 3x3 conv2d: {peak['conv_peak_gflops']:.1f} GFLOP/s")
    common = {
        "device": device,
        **{k: settings[k] for k in ("threads", "train_batch", "sample_batch", "rounds")},
        "torch": torch.__version__,
        "huge_pages": huge_pages_asked(),
    }
    rows = []
    for size in sizes:
        names = competitors(
            size,
            settings["official"],
            settings["compile"],
            settings["bf16"],
            settings.get("plain", True),
            settings.get("trace", True),
        )
        memory, speed = measure_size(size, names, settings)
        rows += size_rows(size, speed, memory, peak["conv_peak_gflops"], common)
        measured(rows)
        log(
            f"measured {size['profile']} {size['arch']} width {size['width']}: "
            + ", ".join(
                f"{n} {s['train_images_per_s']:.1f} img/s train, {s['sample_evals_per_s']:.1f} eval/s"
                for n, s in speed.items()
            )
        )
    return rows, peak


def report(rows: list[dict[str, Any]], peak: dict[str, float], settings: dict[str, Any]) -> str:
    """The printed summary: the machine, its convolution rate and the table."""
    lines = [
        f"score networks on {settings['device']} ({settings['threads']} of {torch.get_num_threads()} CPU threads; "
        f"torch {torch.__version__}; malloc huge pages {'on' if huge_pages_asked() else 'off'}); "
        f"training batch {settings['train_batch']}, sampling batch "
        f"{settings['sample_batch']}, median of {settings['rounds']} alternating rounds",
        f"dense 3x3 conv2d (batch 32, 256 -> 256 channels, 28 x 28): {peak['conv_peak_gflops']:.1f} GFLOP/s "
        f"(NCHW {peak['conv_nchw_gflops']:.1f}, channels_last {peak['conv_channels_last_gflops']:.1f}); "
        f"% peak = achieved / this; a training step counts 3 forward passes",
        format_table(rows),
    ]
    lines += [
        f"{row['arch']} width {row['width']} {row['network']}: torch.compile took {row['compile_s']:.0f} s "
        "before timing"
        for row in rows
        if "compile_s" in row
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = {
        "device": str(resolve_device(args.device)),
        "threads": args.threads,
        "official": args.official,
        "compile": args.compile,
        "bf16": args.bf16,
        "plain": args.plain,
        "trace": args.trace,
        "rounds": args.rounds,
        "train_batch": args.train_batch,
        "sample_batch": args.sample_batch,
    }
    if args.official is not None:
        load_official_module(args.official)  # a wrong path fails here, before any timing
    rows, peak = compute(
        resolve_sizes(args),
        settings,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
        measured=(lambda so_far: write_csv(so_far, args.csv)) if args.csv else (lambda so_far: None),
    )
    print(report(rows, peak, settings))
    if args.side_by_side:
        print(f"side by side (median of {args.rounds} alternating rounds):")
        for size in resolve_sizes(args):
            measured = side_by_side.measure(
                ours_calls, args.threads, args.train_batch, args.sample_batch, args.rounds,
                size=size, device=settings["device"],
            )  # fmt: skip
            print(side_by_side.describe(size, args.threads, measured), flush=True)
    if args.csv:
        print(f"wrote {args.csv}")
    return 0
