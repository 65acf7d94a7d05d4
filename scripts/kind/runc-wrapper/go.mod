module wsgate.local/runc-wrapper

go 1.22
