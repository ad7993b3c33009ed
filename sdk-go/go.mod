module github.com/freshet/freshet/sdk-go

go 1.26.0
