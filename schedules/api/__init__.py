"""The schedule resource: `views` (endpoints), `inputs` and `outputs` (bodies), `handler` (the `schedule` of a send)."""
