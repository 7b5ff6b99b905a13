"""The wire contract: .proto sources and the code generated from them (`make proto`)."""
