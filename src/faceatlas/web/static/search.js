// The look-alike page: send a photo to /api/search, box the faces, list look-alikes per face,
// and mark where the matches stop being probably the same person (the catalog's cut).
"use strict";

const form = document.getElementById("upload");
const input = document.getElementById("file");
const statusLine = document.getElementById("status");
const query = document.getElementById("query");
const photo = document.getElementById("photo");
const preview = document.getElementById("preview");
const results = document.getElementById("results");

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? "error" : "";
}

function verdict(face) {
  return face.name || "unknown person";
}

function boxFaces(faces, width, height) {
  photo.querySelectorAll(".box").forEach((b) => b.remove());
  faces.forEach((face, i) => {
    const [left, top, right, bottom] = face.box;
    const box = el("div", { class: "box", "data-face": i + 1, title: `Face ${i + 1}: ${verdict(face)}` },
      el("span", {}, String(i + 1)));
    box.style.left = `${(100 * left) / width}%`;
    box.style.top = `${(100 * top) / height}%`;
    box.style.width = `${(100 * (right - left)) / width}%`;
    box.style.height = `${(100 * (bottom - top)) / height}%`;
    photo.append(box);
  });
}

function matchCard(match) {
  const person = match.person || "no person";
  const personNode = match.person_id
    ? el("a", { class: "person", href: `/people#${match.person_id}` }, person)
    : el("span", { class: "person" }, person);
  const far = match.same_person === false;
  return el(
    "div",
    { class: far ? "card match far" : "card match", "data-face-id": match.face_id },
    el("a", { href: match.image, target: "_blank", title: match.file },
      el("img", { src: match.thumb, alt: `face ${match.face_id}`, loading: "lazy" })),
    el("span", { class: "distance" }, `distance ${match.distance.toFixed(3)}`),
    personNode,
    el("a", { href: match.image, target: "_blank" }, match.file),
  );
}

// The matches of one face, with a divider before the first one past the cut.
function matchGrid(matches, cut) {
  const grid = el("div", { class: "grid" });
  let divided = false;
  for (const match of matches) {
    if (!divided && match.same_person === false && typeof cut === "number") {
      const words = `below: probably not the same person (distance > ${formatCut(cut)})`;
      grid.append(el("div", { class: "cut", role: "separator", "aria-label": words },
        el("span", {}, words)));
      divided = true;
    }
    grid.append(matchCard(match));
  }
  return grid;
}

function showResults(body) {
  results.replaceChildren();
  boxFaces(body.faces, body.width, body.height);
  if (body.faces.length === 0) {
    setStatus("No face found in this photo.");
    return;
  }
  setStatus(`${body.faces.length} face(s) found.`);
  body.faces.forEach((face, i) => {
    const known = Boolean(face.name);
    const heading = el("h2", {}, `Face ${i + 1}: `,
      el("span", { class: known ? "verdict" : "verdict unknown" }, verdict(face)));
    const note = face.matches.length && face.matches.every((m) => m.same_person === false)
      ? el("p", { class: "hint" }, "No face in the catalog is close enough to be this person.")
      : null;
    results.append(el("div", { class: "face-result" }, heading, note,
      matchGrid(face.matches, body.cut)));
  });
}

async function send(file) {
  if (!file) return;
  preview.src = URL.createObjectURL(file);
  query.hidden = false;
  results.replaceChildren();
  photo.querySelectorAll(".box").forEach((b) => b.remove());
  setStatus("Searching...");
  const data = new FormData();
  data.append("file", file);
  const k = document.getElementById("k").value || "10";
  try {
    showResults(await api(`/api/search?k=${encodeURIComponent(k)}`, { method: "POST", form: data }));
  } catch (err) {
    setStatus(err instanceof ApiError ? `Error ${err.status}: ${err.message}` : `Search failed: ${err}`, true);
  }
}

input.addEventListener("change", () => send(input.files[0]));
form.addEventListener("submit", (event) => event.preventDefault());
for (const name of ["dragenter", "dragover"]) {
  form.addEventListener(name, (event) => { event.preventDefault(); form.classList.add("over"); });
}
for (const name of ["dragleave", "drop"]) {
  form.addEventListener(name, (event) => { event.preventDefault(); form.classList.remove("over"); });
}
form.addEventListener("drop", (event) => send(event.dataTransfer.files[0]));
