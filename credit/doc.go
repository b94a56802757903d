// Package credit accounts for the jobs treaty partners run for each other.
//
// When node A forwards an order to its treaty partner B and B runs it, A owes
// B the price B acknowledged for the time the job ran. This package holds the
// rules both parties (and any third party) apply to logged records to agree on
// that debt:
//
//   - the price B charges on a lane: a [Strategy] picks a markup over B's cost
//     within the treaty's [Terms] (the default, [Utilization], moves it with
//     B's load);
//   - what one job costs ([Job.Amount]): the Ack's price for the seconds from
//     `running` to the job's terminal status, at most the ordered duration;
//   - what A owes B per lane and [Period] ([Ledger], [Account]): every job is
//     charged once, in the period its terminal status falls in;
//   - whether two accounts of one period agree ([Compare]): the jobs that
//     differ, each with what each side counted;
//   - the statement a creditor signs for an account ([Statement]): a
//     treaty.Settlement committing to the account's items by their RFC 6962
//     tree hash ([ItemsRoot]), so a debtor whose own items hash to the same
//     root agrees without exchanging them.
//
// Units: prices in micro-USD per hour, amounts in micro-USD, times in unix
// seconds, markups in permille. Amounts round up to the micro-USD, so a
// job that ran bills at least 1.
//
// The package is pure: no I/O, no clock, no goroutines. Its types are safe
// for concurrent reads; a [Ledger] needs its caller's lock for writes.
package credit
