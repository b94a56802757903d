# The standard treaty law (policy/std) in Rego, for the OPA baseline.
# Input: the order facts (policy.FactsJSON field names); data.params: the
# law's params (std.Params, CBOR key names). Query: data.aurora.std.deny,
# the set of reason names (empty = allow).
package aurora.std

deny contains "nonce_replayed" if not input.nonce_fresh

deny contains "order_expired" if input.now >= input.order_expires

deny contains "region_not_allowed" if {
	count(data.params.allowed_regions) > 0
	input.provider_region != ""
	not input.provider_region in data.params.allowed_regions
}

deny contains "region_not_allowed" if {
	count(data.params.allowed_regions) > 0
	count(input.regions) > 0
	not any_region_allowed
}

any_region_allowed if {
	some r in input.regions
	r in data.params.allowed_regions
}

deny contains "reputation_too_low" if input.provider_reputation < data.params.min_provider_reputation

price := input.offer_price_per_hour if input.offer_price_per_hour > 0

price := input.max_price_per_hour if input.offer_price_per_hour <= 0

deny contains "price_too_high" if {
	data.params.max_price_per_gpu_hour > 0
	input.gpu_count > 0
	price > data.params.max_price_per_gpu_hour * input.gpu_count
}

deny contains "inflight_quota" if {
	data.params.max_inflight > 0
	input.inflight_used >= data.params.max_inflight
}

deny contains "rate_quota" if {
	data.params.orders_per_min > 0
	input.orders_last_minute >= data.params.orders_per_min
}

deny contains "gpu_hours_quota" if {
	data.params.gpu_hours_per_day > 0
	input.gpu_hours_used_today + input.gpu_hours > data.params.gpu_hours_per_day
}
