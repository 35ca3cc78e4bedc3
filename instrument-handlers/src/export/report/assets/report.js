// The report's script: draws the data the page carries. Every text from a span goes in through
// `textContent`, never as markup. Lists draw only the rows in view, so a run of 100,000 spans
// stays quick.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("instrument-data").textContent);
  const spans = data.spans;
  const traces = data.traces;
  const $ = (id) => document.getElementById(id);

  const state = { trace: -1, span: -1, filter: "", traceRows: [], spanRows: [] };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function duration(ns) {
    if (ns < 1e3) return ns + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 2 : 1) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + " ms";
    return (ns / 1e9).toFixed(2) + " s";
  }

  function number(n) {
    return Number(n).toLocaleString("en-US");
  }

  // A list that draws only its visible rows: `rows()` gives the items, `draw(item)` one row.
  function virtualList(container, rowHeight, rows, draw, onPick) {
    const spacer = container.querySelector(".spacer");
    let drawn = "";
    function render(force) {
      const items = rows();
      spacer.style.height = items.length * rowHeight + "px";
      const first = Math.max(0, Math.floor(container.scrollTop / rowHeight) - 10);
      const last = Math.min(items.length, Math.ceil((container.scrollTop + container.clientHeight) / rowHeight) + 10);
      const key = first + ":" + last + ":" + items.length;
      if (!force && key === drawn) return;
      drawn = key;
      spacer.replaceChildren();
      for (let i = first; i < last; i++) {
        const row = draw(items[i]);
        row.classList.add("vrow");
        row.style.top = i * rowHeight + "px";
        row.addEventListener("click", () => onPick(items[i]));
        spacer.appendChild(row);
      }
    }
    container.addEventListener("scroll", () => render(false));
    window.addEventListener("resize", () => render(true));
    return {
      render,
      reveal(index) {
        const top = index * rowHeight;
        if (top < container.scrollTop || top + rowHeight > container.scrollTop + container.clientHeight) {
          container.scrollTop = Math.max(0, top - container.clientHeight / 3);
        }
        render(true);
      },
    };
  }

  function matches(span) {
    return state.filter === "" || span.name.toLowerCase().includes(state.filter);
  }

  function applyFilter() {
    // A new list starts at its top.
    $("trace-list").scrollTop = 0;
    $("rows").scrollTop = 0;
    state.traceRows = [];
    for (let t = 0; t < traces.length; t++) {
      const trace = traces[t];
      if (state.filter === "") {
        state.traceRows.push(t);
        continue;
      }
      for (let i = trace.first; i < trace.first + trace.count; i++) {
        if (matches(spans[i])) {
          state.traceRows.push(t);
          break;
        }
      }
    }
    traceList.render(true);
    if (!state.traceRows.length) {
      showNothing(traces.length ? "No span's name contains \u201c" + state.filter + "\u201d." : "No spans in this run.");
    } else if (!state.traceRows.includes(state.trace)) {
      selectTrace(state.traceRows[0]);
    } else {
      fillSpanRows();
    }
  }

  // Nothing to show: no trace selected, and why.
  function showNothing(why) {
    state.trace = -1;
    state.span = -1;
    state.spanRows = [];
    $("trace-title").textContent = "";
    $("axis").replaceChildren();
    spanList.render(true);
    const detail = $("detail");
    delete detail.dataset.span;
    detail.replaceChildren(el("p", "empty", why));
  }

  function fillSpanRows() {
    state.spanRows = [];
    const trace = traces[state.trace];
    if (trace) {
      for (let i = trace.first; i < trace.first + trace.count; i++) {
        if (matches(spans[i])) state.spanRows.push(i);
      }
    }
    spanList.render(true);
  }

  const traceList = virtualList($("trace-list"), 46, () => state.traceRows, (t) => {
    const trace = traces[t];
    const row = el("div", "trace-row" + (t === state.trace ? " selected" : ""));
    row.dataset.trace = t;
    row.dataset.root = spans[trace.first].id;
    const top = el("div", "line");
    top.appendChild(el("span", "name", trace.name));
    if (trace.status !== "ok") top.appendChild(el("span", "mark", "⚠ " + trace.errors));
    top.appendChild(el("span", "meta", duration(trace.duration_ns)));
    const bottom = el("div", "line meta");
    const parts = [trace.count + (trace.count === 1 ? " span" : " spans")];
    if (trace.tokens !== undefined) parts.push(number(trace.tokens) + " tokens");
    if (trace.cost !== undefined) parts.push(trace.cost);
    bottom.textContent = parts.join(" · ");
    row.append(top, bottom);
    return row;
  }, (t) => selectTrace(t));

  const spanList = virtualList($("rows"), 24, () => state.spanRows, (i) => {
    const span = spans[i];
    const trace = traces[state.trace];
    const total = Math.max(trace.duration_ns, 1);
    const row = el("div", "span-row k-" + span.kind + " st-" + span.status + (i === state.span ? " selected" : ""));
    row.dataset.span = i;
    row.dataset.id = span.id;
    row.title = span.name + " (" + span.kind + ", " + duration(span.duration_ns) + ")";
    const label = el("div", "label");
    label.style.paddingLeft = 8 + 14 * span.depth + "px";
    label.appendChild(el("span", "dot"));
    label.appendChild(el("span", "name", span.name));
    if (span.status === "error") label.appendChild(el("span", "mark", "⚠"));
    if (span.status === "cancelled") label.appendChild(el("span", "mark", "⊘"));
    label.appendChild(el("span", "dur", duration(span.duration_ns)));
    const track = el("div", "track");
    const bar = el("div", "bar");
    bar.style.left = (100 * span.offset_ns) / total + "%";
    bar.style.width = Math.max((100 * span.duration_ns) / total, 0.15) + "%";
    track.appendChild(bar);
    row.append(label, track);
    return row;
  }, (i) => selectSpan(i));

  function selectTrace(t) {
    if (t !== state.trace) $("rows").scrollTop = 0;
    state.trace = t;
    const trace = traces[t];
    $("trace-title").textContent = trace ? trace.name + " · " + duration(trace.duration_ns) : "";
    const axis = $("axis");
    axis.replaceChildren();
    if (trace) {
      for (const part of [0, 0.25, 0.5, 0.75, 1]) {
        const tick = el("span", null, duration(Math.round(trace.duration_ns * part)));
        tick.style.left = part * 100 + "%";
        axis.appendChild(tick);
      }
    }
    const row = state.traceRows.indexOf(t);
    if (row >= 0) traceList.reveal(row);
    fillSpanRows();
    if (trace) selectSpan(state.spanRows.length ? state.spanRows[0] : trace.first);
  }

  function section(parent, title, name) {
    const h = el("h3", null, title);
    parent.appendChild(h);
    const body = el("div");
    body.dataset.section = name;
    parent.appendChild(body);
    return body;
  }

  function json(value) {
    return el("pre", null, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  }

  function facts(parent, pairs) {
    const dl = el("dl", "facts");
    for (const [key, value] of pairs) {
      if (value === undefined || value === null) continue;
      dl.append(el("dt", null, key), el("dd", null, value));
    }
    parent.appendChild(dl);
  }

  function message(m) {
    const box = el("div", "msg");
    box.dataset.role = m.role;
    box.append(el("div", "role", m.role), el("div", "content", m.content));
    return box;
  }

  function selectSpan(i) {
    state.span = i;
    spanList.render(true);
    const index = state.spanRows.indexOf(i);
    if (index >= 0) spanList.reveal(index);
    const span = spans[i];
    const detail = $("detail");
    detail.replaceChildren();
    if (!span) return;
    detail.dataset.span = i;
    const title = el("h2", null, span.name);
    detail.appendChild(title);
    const line = el("div", "line");
    line.append(el("span", "badge k-" + span.kind, span.kind), el("span", "status-" + span.status, span.status));
    detail.appendChild(line);
    facts(detail, [
      ["duration", duration(span.duration_ns)],
      ["starts at", "+" + duration(span.offset_ns)],
      ["span id", span.id],
      ["parent", span.parent !== undefined ? spans[span.parent].name : "none (root)"],
      ["dispatcher", span.dispatcher],
    ]);
    if (span.error) section(detail, "Error", "error").appendChild(el("div", "error-box", span.error));
    if (span.llm) {
      const llm = section(detail, "LLM call", "llm");
      facts(llm, [["model", span.llm.model], ["cost", span.llm.cost]]);
      if (span.llm.total_tokens !== undefined) {
        const tokens = el("div", "tokens");
        for (const [name, key] of [["prompt", "prompt_tokens"], ["completion", "completion_tokens"], ["total", "total_tokens"]]) {
          const part = el("span", null, name + " ");
          const count = el("b", null, number(span.llm[key]));
          count.dataset.tokens = name;
          part.appendChild(count);
          tokens.appendChild(part);
        }
        llm.appendChild(tokens);
      }
      const conversation = section(detail, "Conversation", "messages");
      for (const m of span.llm.messages) conversation.appendChild(message(m));
      if (span.llm.response) {
        const response = section(detail, "Response", "response");
        response.appendChild(message(span.llm.response));
      }
    }
    if (span.documents) {
      const docs = section(detail, "Documents (" + span.documents.length + ")", "documents");
      const list = el("ol", "docs");
      for (const doc of span.documents) {
        const item = el("li");
        if (doc.score !== undefined) item.appendChild(el("span", "score", doc.score.toFixed(3)));
        if (doc.id !== undefined) item.appendChild(el("span", "doc-id", doc.id));
        item.appendChild(el("div", "content", doc.text));
        list.appendChild(item);
      }
      docs.appendChild(list);
    }
    if (span.tool) {
      const tool = section(detail, "Tool call", "tool");
      facts(tool, [["tool", span.tool.name]]);
      tool.appendChild(json(span.tool.arguments));
    }
    if (Object.keys(span.args).length) section(detail, "Arguments", "args").appendChild(json(span.args));
    if (span.result !== undefined) section(detail, "Result", "result").appendChild(json(span.result));
    if (span.metadata) section(detail, "Metadata", "metadata").appendChild(json(span.metadata));
    if (span.tags) section(detail, "Tags", "tags").appendChild(json(span.tags));
    if (span.events) {
      const events = section(detail, "Events (" + span.events.length + ")", "events");
      for (const event of span.events) {
        const item = el("details");
        item.appendChild(el("summary", null, "+" + duration(event.offset_ns) + "  " + event.name));
        item.appendChild(json(event.attributes));
        events.appendChild(item);
      }
    }
    if (location.hash !== "#span=" + i) history.replaceState(null, "", "#span=" + i);
  }

  // Up and down move through the trace's spans, outside the search box.
  document.addEventListener("keydown", (e) => {
    if (e.target === $("search") || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const at = state.spanRows.indexOf(state.span);
    const next = at + (e.key === "ArrowDown" ? 1 : -1);
    if (next >= 0 && next < state.spanRows.length) {
      e.preventDefault();
      selectSpan(state.spanRows[next]);
    }
  });

  let pending = null;
  $("search").addEventListener("input", (e) => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      state.filter = e.target.value.trim().toLowerCase();
      applyFilter();
    }, 80);
  });

  let tokens = 0;
  let errors = 0;
  for (const trace of traces) {
    tokens += trace.tokens || 0;
    errors += trace.errors;
  }
  const summary = [traces.length + " traces", number(spans.length) + " spans"];
  if (tokens) summary.push(number(tokens) + " tokens");
  if (errors) summary.push(errors + " failed");
  $("summary").textContent = summary.join(" · ");

  // `#span=N` opens on span N, so that a link can point at one span.
  function followHash() {
    const wanted = /^#span=(\d+)$/.exec(location.hash);
    const index = wanted ? Number(wanted[1]) : -1;
    if (index < 0 || index >= spans.length || index === state.span) return false;
    let t = 0;
    while (t + 1 < traces.length && traces[t + 1].first <= index) t++;
    if (!state.traceRows.includes(t)) {
      $("search").value = "";
      state.filter = "";
      applyFilter();
    }
    selectTrace(t);
    selectSpan(index);
    return true;
  }
  const linked = /^#span=\d+$/.test(location.hash) ? location.hash : "";
  applyFilter();
  if (linked) {
    history.replaceState(null, "", linked);
    followHash();
  }
  window.addEventListener("hashchange", followHash);
  document.body.dataset.ready = "true";
})();
