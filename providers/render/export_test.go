package render

// StateOf exposes stateOf to the external tests.
var StateOf = stateOf
