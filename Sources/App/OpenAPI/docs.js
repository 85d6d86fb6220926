// Lays out claimsd's OpenAPI document (/openapi.json) as a browsable page. Everything it shows
// comes from the document and is set as text, never parsed as HTML.
"use strict";

const methods = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// Follows a local "$ref" ("#/components/…") to what it names.
function resolve(documentRoot, value, seen = new Set()) {
  if (!value || typeof value !== "object" || typeof value.$ref !== "string") return value;
  if (seen.has(value.$ref)) return value;
  seen.add(value.$ref);
  let target = documentRoot;
  for (const part of value.$ref.replace(/^#\//, "").split("/")) {
    target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return resolve(documentRoot, target, seen);
}

function schemaText(documentRoot, schema) {
  return JSON.stringify(schema, null, 2);
}

function parametersTable(documentRoot, parameters) {
  const table = element("table", {}, element("tr", {}, element("th", {}, "name"), element("th", {}, "in"),
    element("th", {}, "required"), element("th", {}, "schema"), element("th", {}, "description")));
  for (const raw of parameters) {
    const parameter = resolve(documentRoot, raw);
    table.append(element("tr", {}, element("td", { class: "path" }, parameter.name), element("td", {}, parameter.in),
      element("td", {}, parameter.required ? "yes" : "no"), element("td", {}, element("code", {}, JSON.stringify(parameter.schema || {}))),
      element("td", {}, parameter.description || "")));
  }
  return table;
}

function contentList(documentRoot, content) {
  const list = element("div");
  for (const [mediaType, media] of Object.entries(content || {})) {
    const details = element("details", {}, element("summary", {}, element("code", {}, mediaType)));
    if (media.schema) details.append(element("pre", {}, schemaText(documentRoot, media.schema)));
    const example = media.example ?? Object.values(media.examples || {}).map((e) => resolve(documentRoot, e).value)[0];
    if (example !== undefined) {
      details.append(element("p", {}, "Example:"), element("pre", {}, typeof example === "string" ? example : JSON.stringify(example, null, 2)));
    }
    list.append(details);
  }
  return list;
}

function operationView(documentRoot, path, method, item, operation) {
  const open = Array.isArray(operation.security) && operation.security.length === 0;
  const summary = element("summary", {}, element("span", { class: `method ${method}` }, method),
    element("span", { class: "path" }, path), element("span", {}, operation.summary || ""));
  if (open) summary.append(element("span", { class: "open" }, "no credential"));
  const body = element("div", { class: "body" });
  if (operation.description) body.append(element("p", {}, operation.description));
  const parameters = [...(item.parameters || []), ...(operation.parameters || [])];
  if (parameters.length > 0) body.append(element("h4", {}, "Parameters"), parametersTable(documentRoot, parameters));
  if (operation.requestBody) {
    const requestBody = resolve(documentRoot, operation.requestBody);
    body.append(element("h4", {}, requestBody.required ? "Body (required)" : "Body (optional)"), contentList(documentRoot, requestBody.content));
  }
  body.append(element("h4", {}, "Responses"));
  const responses = element("table", {}, element("tr", {}, element("th", {}, "status"), element("th", {}, "meaning"), element("th", {}, "headers"), element("th", {}, "body")));
  for (const [status, raw] of Object.entries(operation.responses || {})) {
    const response = resolve(documentRoot, raw);
    responses.append(element("tr", { "data-status": status }, element("td", {}, status), element("td", {}, response.description || ""),
      element("td", {}, Object.keys(response.headers || {}).join(", ")), element("td", {}, contentList(documentRoot, response.content))));
  }
  body.append(responses);
  const view = element("details", { class: "operation", id: operation.operationId || `${method}-${path}`, "data-operation": `${method.toUpperCase()} ${path}` }, summary, body);
  view.dataset.search = `${method} ${path} ${operation.summary || ""} ${(operation.tags || []).join(" ")}`.toLowerCase();
  return view;
}

function render(documentRoot) {
  document.title = `${documentRoot.info.title} API ${documentRoot.info.version}`;
  document.getElementById("title").textContent = `${documentRoot.info.title} API`;
  const main = document.getElementById("operations");
  main.replaceChildren(element("p", {}, documentRoot.info.summary || ""));
  const sections = new Map((documentRoot.tags || []).map((tag) => [tag.name, element("section", { id: `tag-${tag.name}` },
    element("h2", {}, tag.name), element("p", {}, tag.description || ""))]));
  let count = 0;
  for (const [path, item] of Object.entries(documentRoot.paths || {})) {
    for (const method of methods) {
      const operation = item[method];
      if (!operation) continue;
      const tag = (operation.tags || ["other"])[0];
      if (!sections.has(tag)) sections.set(tag, element("section", { id: `tag-${tag}` }, element("h2", {}, tag)));
      sections.get(tag).append(operationView(documentRoot, path, method, item, operation));
      count += 1;
    }
  }
  for (const section of sections.values()) main.append(section);
  main.dataset.operations = String(count);
  document.getElementById("filter").addEventListener("input", (event) => {
    const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const view of main.querySelectorAll(".operation")) {
      view.classList.toggle("hidden", !words.every((word) => view.dataset.search.includes(word)));
    }
  });
}

fetch("/openapi.json", { headers: { Accept: "application/json" } })
  .then((response) => {
    if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
    return response.json();
  })
  .then(render)
  .catch((error) => {
    document.getElementById("status").textContent = `The API document could not be loaded: ${error.message}`;
  });
