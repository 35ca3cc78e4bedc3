// Opens the RAG demo's HTML report in headless Chromium and checks, from the DOM, what a user
// sees: the traces, one trace's spans, the LLM span's conversation and token counts, a
// retriever's ranked documents, the search box, no console error; then that a span argument
// holding markup renders as text. Usage:
//   node check.mjs <report.html> <run.jsonl> <hostile-report.html> <screenshot.png> [<large.html>]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [reportPath, jsonlPath, hostilePath, screenshotPath, largePath] = process.argv.slice(2);
const failures = [];
const check = (ok, what) => {
  console.log((ok ? "ok    " : "FAIL  ") + what);
  if (!ok) failures.push(what);
};

// What the report must show, read from the JSON Lines export of the same run.
const spans = readFileSync(jsonlPath, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
const roots = spans.filter((s) => !s.parent_id || !spans.some((p) => p.span_id === s.parent_id));
const llmSpan = spans.find((s) => s.events.some((e) => e.name === "LLMChatEndEvent"));
const llmEnd = llmSpan.events.find((e) => e.name === "LLMChatEndEvent").attributes;
const usage = llmEnd.response.raw.usage;
const llmStart = llmSpan.events.find((e) => e.name === "LLMChatStartEvent").attributes;
const retrieval = spans.find((s) => s.events.some((e) => e.name === "RetrievalEndEvent"));
const retrieved = retrieval.events.find((e) => e.name === "RetrievalEndEvent").attributes.nodes;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  const consoleErrors = [];
  const requests = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith("file:")) requests.push(r.url()); });

  await page.goto(pathToFileURL(reportPath).href);
  await page.waitForSelector("body[data-ready=true]", { timeout: 15000 });

  const traceNames = await page.$$eval("#trace-list .trace-row .name", (ns) => ns.map((n) => n.textContent));
  check(traceNames.length === roots.length, `the trace list shows the run's ${roots.length} traces (shows ${traceNames.length})`);
  for (const root of roots) {
    check(traceNames.includes(root.name), `the trace list names ${root.name}`);
  }

  // The trace holding the LLM call: select it, then read its spans.
  const rootOf = (span) => {
    let at = span;
    for (let up = at; up; up = spans.find((s) => s.span_id === at.parent_id)) at = up;
    return at;
  };
  const root = rootOf(llmSpan);
  await page.click(`#trace-list .trace-row[data-root="${root.span_id}"]`);
  const inTrace = (s) => {
    for (let p = s; p; p = spans.find((q) => q.span_id === p.parent_id)) if (p.span_id === root.span_id) return true;
    return false;
  };
  const expectedRows = spans.filter(inTrace).map((s) => s.name).sort();
  const rowNames = await page.$$eval("#rows .span-row .name", (ns) => ns.map((n) => n.textContent));
  check(JSON.stringify([...rowNames].sort()) === JSON.stringify(expectedRows),
    `the selected trace shows its ${expectedRows.length} spans in the tree: ${rowNames.join(", ")}`);
  const bars = await page.$$eval("#rows .span-row .bar", (bs) => bs.map((b) => parseFloat(b.style.width)));
  check(bars.length === expectedRows.length && bars.every((w) => w > 0), "each span has a bar on the time axis");
  const kinds = await page.$$eval("#rows .span-row", (rs) => rs.map((r) => [...r.classList].find((c) => c.startsWith("k-"))));
  check(kinds.includes("k-llm") && kinds.includes("k-retriever") && kinds.includes("k-reranker") && kinds.includes("k-embedding"),
    `spans are coloured by kind (${[...new Set(kinds)].join(", ")})`);

  // The LLM span: its conversation and its token counts.
  await page.click(`#rows .span-row[data-id="${llmSpan.span_id}"]`);
  const roles = await page.$$eval("#detail [data-section=messages] .msg", (ms) => ms.map((m) => m.dataset.role));
  check(JSON.stringify(roles) === JSON.stringify(llmStart.messages.map((m) => m.role)),
    `the LLM span shows its conversation by role (${roles.join(", ")})`);
  const firstMessage = await page.$eval("#detail [data-section=messages] .msg .content", (c) => c.textContent);
  check(firstMessage === llmStart.messages[0].content, "the messages' text is on the page as sent");
  const response = await page.$eval("#detail [data-section=response] .msg .content", (c) => c.textContent).catch(() => null);
  check(response === llmEnd.response.message.content, "the response is on the page");
  const tokens = await page.$$eval("#detail [data-tokens]", (ts) => Object.fromEntries(ts.map((t) => [t.dataset.tokens, t.textContent.replace(/,/g, "")])));
  check(tokens.prompt === String(usage.prompt_tokens) && tokens.completion === String(usage.completion_tokens)
    && tokens.total === String(usage.total_tokens),
    `token counts shown: ${JSON.stringify(tokens)}, reported: ${JSON.stringify(usage)}`);
  const model = await page.$eval("#detail [data-section=llm] dd", (d) => d.textContent).catch(() => null);
  check(model === llmEnd.response.raw.model, `the model is shown (${model})`);
  await page.screenshot({ path: screenshotPath });

  // A retriever: its documents, ranked, with scores.
  await page.click(`#trace-list .trace-row[data-root="${rootOf(retrieval).span_id}"]`);
  await page.click(`#rows .span-row[data-id="${retrieval.span_id}"]`);
  const scores = await page.$$eval("#detail [data-section=documents] .score", (ss) => ss.map((s) => Number(s.textContent)));
  check(scores.length === retrieved.length && scores.every((s, i) => Math.abs(s - retrieved[i].score) < 5e-4),
    `the retriever shows its ${retrieved.length} documents with their scores (${scores.join(", ")})`);

  // The arrow keys move through the trace's spans.
  await page.keyboard.press("ArrowDown");
  const next = await page.$eval("#detail h2", (h) => h.textContent);
  check(next !== retrieval.name, `the down arrow selects the next span (${next})`);

  // The search box filters spans by name.
  await page.fill("#search", "embed");
  await page.waitForTimeout(300);
  const filtered = await page.$$eval("#rows .span-row .name", (ns) => ns.map((n) => n.textContent));
  check(filtered.length > 0 && filtered.every((n) => n.toLowerCase().includes("embed")), `the search box keeps matching spans only (${filtered.join(", ")})`);

  await page.fill("#search", "no-such-span");
  await page.waitForTimeout(300);
  const nothing = await page.$eval("#detail", (d) => d.textContent);
  const left = await page.$$eval("#rows .span-row", (rs) => rs.length);
  check(left === 0 && nothing.includes("no-such-span"), `a search that matches nothing says so (${nothing})`);

  // A link to one span (`#span=N`) opens it, also on a page already open.
  await page.fill("#search", "");
  await page.waitForTimeout(300);
  const llmIndex = await page.evaluate((id) => {
    const data = JSON.parse(document.getElementById("instrument-data").textContent);
    return data.spans.findIndex((s) => s.id === id);
  }, llmSpan.span_id);
  await page.evaluate((i) => { location.hash = "#span=" + i; }, llmIndex);
  await page.waitForTimeout(200);
  const linked = await page.$eval("#detail", (d) => d.dataset.span);
  check(linked === String(llmIndex), `#span=${llmIndex} selects the LLM span`);

  check(consoleErrors.length === 0, `no console error${consoleErrors.length ? ": " + consoleErrors.join(" | ") : ""}`);
  check(requests.length === 0, `no network request${requests.length ? ": " + requests.join(", ") : ""}`);

  // Markup in a span's argument is text.
  const hostile = await browser.newPage();
  let dialogs = 0;
  hostile.on("dialog", async (d) => { dialogs++; await d.dismiss(); });
  const hostileErrors = [];
  hostile.on("pageerror", (e) => hostileErrors.push(String(e)));
  await hostile.goto(pathToFileURL(hostilePath).href + "#span=0");
  await hostile.waitForSelector("body[data-ready=true]", { timeout: 15000 });
  const argsText = await hostile.$eval("#detail [data-section=args] pre", (p) => p.textContent);
  const scripts = await hostile.$$eval("script", (s) => s.length);
  check(dialogs === 0 && scripts === 2 && hostileErrors.length === 0 && argsText.includes("</script><script>alert(1)</script>"),
    "an argument holding </script><script>alert(1)</script> renders as text and runs nothing");

  // 100,000 spans: the page opens, draws only the rows in view, scrolls and filters.
  if (largePath) {
    const large = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    const largeErrors = [];
    large.on("pageerror", (e) => largeErrors.push(String(e)));
    const began = Date.now();
    await large.goto(pathToFileURL(largePath).href);
    await large.waitForSelector("body[data-ready=true]", { timeout: 60000 });
    const opened = Date.now() - began;
    const summary = await large.$eval("#summary", (s) => s.textContent);
    const drawn = await large.$$eval("#rows .span-row", (rs) => rs.length);
    check(summary.includes("100,000 spans") && drawn > 0 && drawn < 120,
      `100,000 spans: opened in ${opened} ms, ${drawn} rows drawn of the trace's 10,000 (${summary})`);
    await large.$eval("#rows", (r) => { r.scrollTop = r.scrollHeight; });
    await large.waitForTimeout(200);
    const last = await large.$$eval("#rows .span-row .name", (ns) => ns.map((n) => n.textContent));
    check(last.length > 0 && last.length < 120, `scrolled to the end, ${last.length} rows drawn`);
    const searchBegan = Date.now();
    await large.fill("#search", "llm.chat");
    await large.waitForFunction(() => {
      const names = [...document.querySelectorAll("#rows .span-row .name")];
      return names.length > 0 && names.every((n) => n.textContent === "llm.chat");
    });
    const llmRow = await large.$("#rows .span-row");
    await llmRow.click();
    const shown = await large.$$eval("#detail [data-tokens]", (ts) => ts.map((t) => t.textContent));
    check(JSON.stringify(shown) === JSON.stringify(["120", "30", "150"]),
      `filtered 100,000 spans by name in ${Date.now() - searchBegan} ms; an LLM span shows ${shown.join("/")} tokens`);
    check(largeErrors.length === 0, `no error on the large page${largeErrors.length ? ": " + largeErrors.join(" | ") : ""}`);
  }
} finally {
  await browser.close();
}

if (failures.length) {
  console.log(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log(`\nthe report renders as expected; screenshot: ${screenshotPath}`);
