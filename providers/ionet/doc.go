// Package ionet is the Aurora adapter for io.net's IO Cloud
// Containers-as-a-Service API (https://api.io.solutions/enterprise/v1/io-cloud/caas).
//
// io.net sells GPU containers prepaid by the whole hour: a deployment names
// a hardware type, a GPU count per container, locations, a replica count and
// duration_hours, and is charged total_cost_usdc up front. The adapter maps
// the Provider interface onto that:
//
//   - Offers lists hardware types (GET hardware/max-gpus-per-container),
//     where each can run (GET available-replicas) and what it costs
//     (GET price, per location), one Offer per hardware type and location. A workload's
//     duration is rounded up to whole hours because that is what io.net
//     charges; Offer.PricePerHour is the prepaid total divided by those
//     hours, and Offer.Raw keeps the total and says how many hours it buys.
//     Offer.ID is "hardwareID:locationID:gpusPerContainer".
//   - Launch deploys one replica (POST deploy) named after the job's
//     idempotency key (resource_private_name) and, before deploying, looks
//     for a deployment of that name (GET deployments), so a relaunch after a
//     crash or a lost response returns the existing deployment. It re-quotes
//     the price first and refuses with providers.ErrOverPrice above the cap.
//   - Status reads GET deployment/{id} and maps CaaSResourceStatus onto
//     providers.State; a running deployment's endpoints are its
//     containers' public_url (GET deployment/{id}/containers), each in
//     front of the traffic port.
//   - Secret env goes in secret_env_variables, which io.net shows back by
//     name only (container_config.secret_env_keys); a registry login in
//     registry_username and registry_secret.
//   - Terminate deletes the deployment (DELETE deployment/{id}); unused
//     prepaid hours may be refunded by io.net (its VMaaS documentation says
//     the first hour is not).
//
// Authentication is the x-api-key header from a providers.Credential. HTTP
// goes through providers/internal/httpx (retries with backoff on 429 and
// 5xx for idempotent calls, Retry-After, bounded bodies), and a client-side
// limiter keeps under io.net's documented 150 requests per 10 s.
//
// The fake server in ionettest speaks the same wire format.
package ionet
