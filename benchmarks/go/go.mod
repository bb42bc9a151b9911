module gorun-bench

go 1.22
