module pushpull/benches/go

go 1.19
