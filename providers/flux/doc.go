// Package flux is the Aurora adapter for Flux (RunOnFlux), a network of
// FluxOS nodes that run Docker apps. Flux is not a cloud API: an app is a
// signed message gossiped between nodes, and it is only published once the
// message is paid for on chain (FLUX sent to the network's deployment
// address with the message hash as OP_RETURN data).
//
// Authentication is by Flux ID (a Bitcoin-style "1..." address) and its
// secp256k1 key, given as a WIF in a providers.Credential:
//
//   - zelidauth, the session header, is JSON {zelid, signature,
//     loginPhrase}; the adapter issues its own login phrase (current Unix
//     milliseconds plus 32 random hex characters) and signs it with the
//     Bitcoin signed-message scheme, which FluxOS accepts from any node for
//     16 hours (2 for owner actions) without a login round trip;
//   - app messages are signed over type + version + JSON.stringify(the
//     node's formatted spec) + timestamp, so the adapter signs the exact
//     bytes the node returned from verifyapp*specifications (see jsStringify).
//
// The adapter maps:
//
//   - Offers → POST /apps/calculatefiatandfluxprice: Flux Cloud's USD price
//     of the workload for a prepaid term (a duration rounded up to whole
//     blocks and the network's allowance; open-ended workloads get 1-, 3-,
//     6- and 12-month terms), spread over the term's hours. There are no
//     GPUs on Flux, so a GPU query gets no offers. Regions become
//     geolocation rules without a network call: FluxOS serves no table of
//     where its nodes are (geo.go).
//   - Launch → verify, quote, sign, POST /apps/appregister, then
//     Config.Pay(ctx, Quote) for the on-chain payment. Without Pay, Launch
//     returns providers.ErrNotSupported saying so. The app name is the
//     launch's idempotency key; a published app or a pending message of
//     that name is found instead of registering again. The message goes to
//     the load balancer first; when it cannot take it (a node short of
//     peers, a 5xx, a dead connection: nodes.go), the adapter probes
//     nodes of the deterministic node list and verifies and registers
//     through a healthy one, as Flux's own deployment tool does. It pays
//     max(the Flux Cloud quote, consensus's minimum for the message): a
//     payment below the minimum is lost (Quote.PayFLUX).
//   - A persistent volume (providers.Storage) is the component's primary
//     containerData mount at its path, with Config.ContainerData's sync
//     flags, and the component's hdd covers its size. Registry logins and
//     secret env are refused: FluxOS takes repoauth only in enterprise
//     specifications, and a public specification's env is public.
//   - Status → GET /apps/appspecifications/{name}, /daemon/getblockcount,
//     /apps/location/{name}, and the permanent and temporary message stores;
//     a running app's endpoints are each location's IP with the spec's
//     public ports (to its containerPorts).
//   - Terminate → an update with expire=1 (FluxOS's cancellation form),
//     also paid through Config.Pay.
//
// FluxOS answers errors with HTTP 200 and {"status":"error","data":{...}}:
// the adapter reads every envelope (APIError) and maps "Unauthorized" to
// providers.ErrAuth and "not found" to providers.ErrNotFound. POST bodies go
// as text/plain, since FluxOS's handlers read the raw stream and hang on
// application/json.
package flux
