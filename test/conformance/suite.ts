/**
 * Every case file, in the order the cases run. The leftovers check comes
 * last: it looks at what all the others may have left behind.
 *
 * @module
 */
import "./cases.ts";
import "./resilience.ts";
import "./differential.ts";
import "./middleware.ts";
import "./leftovers.ts";
