module github.com/portcullis-dev/portcullis/test/e2e

go 1.26.8

require github.com/portcullis-dev/portcullis v0.0.0

replace github.com/portcullis-dev/portcullis => ../..
