// Every relative markdown link in the project's documents resolves.
//
//   npm run check:links         (the repository; also run by the pack check)
//
// - In the repository: each relative link in DOCS points at a file or
//   directory inside the repository, and a `#fragment` at a heading of the
//   target (GitHub's anchors); nothing climbs out of the repository.
// - In the npm package (`checkPackageLinks`, called by scripts/pack-check.mjs
//   with the tarball's file list): each relative link in a packed markdown
//   file points at a file in the tarball. The README is read on npmjs.com and
//   in node_modules, where files outside the tarball do not exist; the
//   package has no repository URL to link to instead, so files that are not
//   packed are named in code spans, not linked.
//
// Plain JavaScript so the system Node 20 runs it.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const DOCS = ["README.md", "sim/README.md", "bench/README.md", "test/conformance/README.md"];

/** Markdown links `[text](target)` and `[text]: target` outside code, with line numbers. */
export function linksOf(markdown) {
  const out = [];
  let fenced = false;
  for (const [i, line] of markdown.split("\n").entries()) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    const text = line.replace(/(`+)[^`]*?\1/g, ""); // inline code is not a link
    for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ line: i + 1, target: m[1] });
    }
    const ref = /^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text);
    if (ref) out.push({ line: i + 1, target: ref[1] });
  }
  return out;
}

/** GitHub's heading anchors of a markdown document (duplicates get -1, -2, …). */
export function anchorsOf(markdown) {
  const anchors = new Set();
  const seen = new Map();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const slug = h[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text stays
      .replace(/<[^>]+>/g, "")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\- _]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

const isExternal = (t) => /^[a-z][a-z0-9+.-]*:/i.test(t); // https:, mailto:, …

/**
 * Problems with the relative links of `doc` (a path relative to `root`),
 * where `exists(path)` says whether a root-relative path is there and
 * `read(path)` gives a markdown target's text (for its anchors).
 */
function problemsOf(doc, markdown, exists, read, where) {
  const problems = [];
  for (const { line, target } of linksOf(markdown)) {
    if (isExternal(target)) continue;
    const [pathPart, fragment] = target.split("#", 2);
    const path = decodeURIComponent(pathPart ?? "");
    const resolved = path ? normalize(join(dirname(doc), path)) : doc;
    const at = `${doc}:${line}: (${target})`;
    if (resolved.startsWith(`..${sep}`) || resolved === "..") {
      problems.push(`${at} points outside ${where}`);
      continue;
    }
    if (!exists(resolved)) {
      problems.push(`${at} ${resolved} is not in ${where}`);
      continue;
    }
    if (fragment && resolved.endsWith(".md")) {
      const text = read(resolved);
      if (text !== undefined && !anchorsOf(text).has(fragment)) {
        problems.push(`${at} ${resolved} has no heading #${fragment}`);
      }
    }
  }
  return problems;
}

/** The repository check: every relative link in DOCS resolves inside `root`. */
export function checkRepoLinks(root, docs = DOCS) {
  const problems = [];
  let links = 0;
  for (const doc of docs) {
    const file = join(root, doc);
    if (!existsSync(file)) {
      problems.push(`${doc}: missing`);
      continue;
    }
    const markdown = readFileSync(file, "utf8");
    links += linksOf(markdown).filter((l) => !isExternal(l.target)).length;
    problems.push(
      ...problemsOf(
        doc,
        markdown,
        (p) => {
          const abs = join(root, p);
          return !relative(root, abs).startsWith("..") && existsSync(abs);
        },
        (p) => {
          const abs = join(root, p);
          return statSync(abs).isFile() ? readFileSync(abs, "utf8") : undefined;
        },
        "the repository",
      ),
    );
  }
  return { links, problems };
}

/**
 * The package check: every relative link in a packed markdown file points at
 * a packed file. `files` are the tarball's paths (as `npm pack --json` lists
 * them); `read(path)` gives a packed file's text.
 */
export function checkPackageLinks(files, read) {
  const packed = new Set(files);
  const dirs = new Set(
    files.flatMap((f) =>
      f
        .split("/")
        .slice(0, -1)
        .map((_, i, a) => a.slice(0, i + 1).join("/")),
    ),
  );
  const problems = [];
  let links = 0;
  for (const doc of files.filter((f) => f.endsWith(".md"))) {
    const markdown = read(doc);
    links += linksOf(markdown).filter((l) => !isExternal(l.target)).length;
    problems.push(
      ...problemsOf(
        doc,
        markdown,
        (p) => packed.has(p.split(sep).join("/")) || dirs.has(p.split(sep).join("/")),
        (p) => (packed.has(p) ? read(p) : undefined),
        "the npm package",
      ),
    );
  }
  return { links, problems };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const { links, problems } = checkRepoLinks(root);
  for (const p of problems) console.log(`check-links: ${p}`);
  console.log(
    `check-links: ${DOCS.length} documents, ${links} relative links, ${problems.length} broken`,
  );
  process.exitCode = problems.length ? 1 : 0;
}
