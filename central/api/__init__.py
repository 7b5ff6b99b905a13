"""The API edge: gRPC servicers (roadside.v1 and the original API), validation, error mapping."""
