module github.com/clbdrain/clbdrain

go 1.26.8

require github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common v1.0.1000

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/clb v1.0.1000 // indirect
	go.temporal.io/sdk v1.51.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
