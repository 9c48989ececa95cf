// Renders the server's two documents, fetched from this server. Everything read from them goes
// in as text (textContent), never as HTML: a plugin's docstring is not markup.

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
};

// A JSON value, with every "$ref" to a component schema a link to it.
function json(value) {
  const pre = el("pre");
  const text = JSON.stringify(value, null, 2);
  const ref = /"#\/components\/schemas\/([^"]+)"/g;
  let last = 0;
  for (const match of text.matchAll(ref)) {
    pre.append(text.slice(last, match.index), el("a", { href: `#schema-${match[1]}` }, match[0]));
    last = match.index + match[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

function entry(head, tag, ...body) {
  const summary = el("summary", {}, ...head);
  if (tag) summary.append(el("span", { class: "tag" }, tag));
  return el("details", {}, summary, ...body);
}

function rest(openapi) {
  const section = document.getElementById("rest");
  section.querySelector(".loading").remove();
  for (const [path, operations] of Object.entries(openapi.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const body = [];
      if (op.parameters) body.push(el("h4", {}, "parameters"), json(op.parameters));
      if (op.requestBody) body.push(el("h4", {}, "body"), json(op.requestBody.content["application/json"].schema));
      for (const [code, response] of Object.entries(op.responses)) {
        body.push(el("h4", {}, `${code}`), json(response.content?.["application/json"]?.schema ?? response));
      }
      const head = [el("span", { class: "method" }, method), el("span", { class: "name" }, path), " ", el("span", { class: "note" }, op.summary ?? "")];
      section.append(entry(head, op.security ? "token" : "public", ...body));
    }
  }
}

function socket(asyncapi) {
  const section = document.getElementById("socket");
  section.querySelector(".loading").remove();
  section.append(el("p", { class: "note" }, asyncapi.info.description));
  const messages = asyncapi.channels.socket.messages;
  const message = (ref) => messages[ref.$ref.split("/").pop()];
  const frames = el("div"), events = el("div");
  section.append(el("h3", {}, "Frames the client sends (each gets one reply)"), frames, el("h3", {}, "Events the server pushes"), events);
  for (const op of Object.values(asyncapi.operations)) {
    const sent = message(op.messages[0]);
    const body = [el("h4", {}, "frame"), json(sent.payload)];
    if (op.reply) body.push(el("h4", {}, "reply"), json(message(op.reply.messages[0]).payload));
    const name = sent.payload.properties.type.const;
    const head = [el("span", { class: "name" }, name), " ", el("span", { class: "note" }, op.summary ?? "")];
    const origin = op["x-origin"] === "hubbub" ? "" : `plugin ${op["x-origin"]}`;
    (op.action === "receive" ? frames : events).append(entry(head, origin, ...body));
  }
}

function schemas(...documents) {
  const section = document.getElementById("schemas");
  const seen = new Set();
  for (const doc of documents) {
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const details = entry([el("span", { class: "name" }, name)], "", json(schema));
      details.id = `schema-${name}`;
      section.append(details);
    }
  }
  // A link to a schema opens it.
  addEventListener("hashchange", () => document.getElementById(location.hash.slice(1))?.setAttribute("open", ""));
}

async function load(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

try {
  const [openapi, asyncapi] = await Promise.all([load("/api/openapi.json"), load("/api/asyncapi.json")]);
  rest(openapi);
  socket(asyncapi);
  schemas(openapi, asyncapi);
} catch (error) {
  document.querySelector("main").prepend(el("p", { class: "error" }, `Could not read the documents: ${error.message}`));
}
