// The people page: every person with a few faces; #<person id> shows one person in full.
"use strict";

const statusLine = document.getElementById("status");
const list = document.getElementById("people");
const detail = document.getElementById("person");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function faceLink(face) {
  return el("a", { href: face.image, target: "_blank", title: face.file },
    el("img", { src: face.thumb, alt: `face ${face.face_id}`, loading: "lazy" }));
}

async function getJson(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(`${response.status}: ${body.detail}`);
  return body;
}

async function showPerson() {
  const id = location.hash.slice(1);
  detail.hidden = !id;
  if (!id) return;
  try {
    const person = await getJson(`/api/people/${encodeURIComponent(id)}`);
    detail.replaceChildren(
      el("h2", {}, `${person.label}: ${person.size} faces in ${person.images.length} photos`),
      el("div", { class: "faces" }, ...person.faces.map(faceLink)),
    );
  } catch (err) {
    detail.replaceChildren(el("p", { class: "error" }, `Cannot show person ${id}: ${err.message}`));
  }
}

async function showPeople() {
  try {
    const body = await getJson("/api/people");
    statusLine.textContent = body.total
      ? `${body.total} people, largest first.`
      : "No people yet: run `faceatlas cluster` on this catalog.";
    list.replaceChildren(...body.people.map((p) => el("div", { class: "person-row" },
      el("h2", {}, el("a", { href: `#${p.person_id}` }, `${p.label} (${p.size})`)),
      el("div", { class: "faces" }, ...p.faces.map(faceLink)))));
  } catch (err) {
    statusLine.textContent = `Cannot list people: ${err.message}`;
  }
}

window.addEventListener("hashchange", showPerson);
showPeople();
showPerson();
