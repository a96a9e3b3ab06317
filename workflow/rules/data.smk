rule data:
    """Obtain MNIST / Fashion-MNIST (local files, torchvision download or offline registry mirrors),
    verify the decompressed IDX bytes against fixed checksums and stage them for torchvision."""
    output:
        tensors=res(layout.dataset_tensors("{dataset}")),
        summary=res(layout.dataset_summary("{dataset}")),
        raw=directory(res(layout.dataset_raw("{dataset}"))),
    log:
        log_of("data", "{dataset}"),
    benchmark:
        benchmark_of("data", "{dataset}")
    wildcard_constraints:
        dataset="mnist|fashion_mnist",
    conda:
        CONDA_ENV
    params:
        root=config["data"]["root"] or "",
        sources=" ".join(config["data"]["sources"]),
    shell:
        "python -m ncsn data {wildcards.dataset} --out {output.tensors:q} --root={params.root:q} "
        "--sources {params.sources} > {log} 2>&1"
