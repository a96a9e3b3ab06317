rule data:
    """Obtain MNIST / Fashion-MNIST (local files, torchvision download or offline registry mirrors),
    verify the decompressed IDX bytes against fixed checksums and stage them for torchvision."""
    output:
        tensors=f"{RESULTS}/data/{{dataset}}.pt",
        summary=f"{RESULTS}/data/{{dataset}}.json",
        raw=directory(f"{RESULTS}/data/{{dataset}}"),
    log:
        f"{LOGS}/data/{{dataset}}.log",
    benchmark:
        f"{BENCHMARKS}/data/{{dataset}}.tsv"
    wildcard_constraints:
        dataset="mnist|fashion_mnist",
    params:
        root=lambda w: config["data"]["root"] or "",
        sources=lambda w: " ".join(config["data"]["sources"]),
    shell:
        "{NCSN} data {wildcards.dataset} --out {output.tensors} --root={params.root:q} "
        "--sources {params.sources} > {log} 2>&1"


ALL_TARGETS += expand(f"{RESULTS}/data/{{dataset}}.pt", dataset=config["data"]["datasets"])
