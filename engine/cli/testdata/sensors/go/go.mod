module example.com/sensors

go 1.26.0

require github.com/freshet/freshet/sdk-go v0.0.0

replace github.com/freshet/freshet/sdk-go => ../../../../../sdk-go
