/** The object literal of a printed `createFetch({ … })`, evaluated as the JavaScript it is. */
export function evaluateSnippet(line: string): Record<string, unknown> {
  const m = /createFetch\((\{.*\})\)/.exec(line);
  if (!m) throw new Error(`no createFetch({ … }) in ${JSON.stringify(line)}`);
  return new Function(`return (${m[1]});`)() as Record<string, unknown>;
}

/** Every `createFetch({ … })` line in a command's output. */
export function snippetsIn(output: string): string[] {
  return output.split("\n").filter((l) => l.includes("createFetch({"));
}
