module github.com/cognive/cognive/bench/peers/loadgen

go 1.22
