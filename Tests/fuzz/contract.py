"""The contract's error codes and their HTTP statuses (the codes are those of the error schema in
the daemon's GET /openapi.json); shared by the fuzz scripts of this directory."""

SPEC_CODES = {
    "invalid_json", "invalid_field", "unauthorized", "forbidden", "not_found", "version_conflict",
    "id_conflict", "payload_too_large", "unavailable", "projection_lagging",
    # placement proofs: nothing sealed covers the placement yet / another student's event predates
    # private proofs
    "not_sealed", "not_provable",
    # the domain rules, all 422
    "posting_exists", "posting_not_found", "posting_closed", "already_applied", "not_applied",
    "already_selected", "openings_filled", "not_selected", "placement_withdrawn",
    "negative_hours_total", "delivery_pending", "already_accepted", "nothing_delivered",
    "currency_mismatch", "duplicate_payment_ref", "payment_exceeds_cap", "payment_not_found",
    "payment_already_reversed", "already_withdrawn", "occurred_in_future",
}
STATUS_OF_CODE = {
    "invalid_json": 400, "invalid_field": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "version_conflict": 409, "id_conflict": 409, "payload_too_large": 413, "unavailable": 503,
    "projection_lagging": 503, "not_sealed": 409, "not_provable": 409,
}
