// weightwarden dashboard: streams playground answers into the page. Everything works without this file;
// model output is only ever set as textContent, never as HTML.
"use strict";

(function () {
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showVerdicts(list, lines) {
    list.textContent = "";
    if (!lines.length) list.appendChild(el("li", "verdict verdict-off", "guard off: no verdicts"));
    lines.forEach(function (v) {
      var text = v.side + " \u00b7 " + v.detector + ": " + v.label;
      if (v.score !== null && v.score !== undefined) text += " (" + v.score + ")";
      if (v.fired) text += " \u2192 " + v.action;
      list.appendChild(el("li", v.fired ? "verdict verdict-fired" : "verdict", text));
    });
  }

  function handle(name, data, turn) {
    if (name === "text") {
      turn.reply.textContent += JSON.parse(data);
    } else if (name === "verdicts") {
      var parsed = JSON.parse(data);
      showVerdicts(turn.verdicts, Array.isArray(parsed) ? parsed : []);
    } else if (name === "problem") {
      var message = data;
      try { message = JSON.parse(data); } catch (e) { /* a plain text message */ }
      turn.problem.textContent = message;
      turn.problem.hidden = false;
    } else if (name === "done") {
      var id = data ? JSON.parse(data) : "";
      turn.meta.textContent = id ? "Request " + id : "";
    }
  }

  function newTurn(prompt, model) {
    var old = document.getElementById("reply");
    if (old) old.removeAttribute("id");
    var li = el("li", "turn");
    li.appendChild(el("p", "who-said", "You (" + model + ")"));
    li.appendChild(el("pre", "said", prompt));
    li.appendChild(el("p", "who-said", "Answer"));
    var problem = el("p", "problem");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    li.appendChild(problem);
    var reply = el("pre", "said");
    reply.id = "reply";
    li.appendChild(reply);
    var verdicts = el("ul", "verdicts");
    verdicts.setAttribute("aria-label", "Guard verdicts");
    li.appendChild(verdicts);
    var meta = el("p", "muted");
    li.appendChild(meta);
    document.getElementById("turns").appendChild(li);
    return { reply: reply, verdicts: verdicts, problem: problem, meta: meta };
  }

  async function send(form, event) {
    event.preventDefault();
    var button = document.getElementById("send");
    var data = new URLSearchParams(new FormData(form));
    var turn = newTurn(data.get("prompt") || "", data.get("model") || "");
    button.disabled = true;
    try {
      var response = await fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Accept": "text/event-stream", "X-CSRF-Token": data.get("csrf") || "" }
      });
      var kind = response.headers.get("content-type") || "";
      if (kind.indexOf("text/event-stream") !== 0 || !response.body) {
        // Not a stream: the session ended or the page is out of date (the dashboard answered with a page).
        handle("problem", JSON.stringify("the dashboard answered " + response.status + ": reload the page " +
          "(sign in again if asked) and send it again"), turn);
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      for (;;) {
        var part = await reader.read();
        if (part.done) break;
        buffer += decoder.decode(part.value, { stream: true });
        var end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var name = "message", lines = [];
          block.split("\n").forEach(function (line) {
            if (line.indexOf("event: ") === 0) name = line.slice(7);
            else if (line.indexOf("data: ") === 0) lines.push(line.slice(6));
          });
          handle(name, lines.join("\n"), turn);
        }
      }
      form.querySelector("#prompt").value = "";
    } catch (err) {
      handle("problem", JSON.stringify("the answer could not be read: " + err), turn);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("chat-form");
    if (form && window.fetch && window.TextDecoder) {
      form.addEventListener("submit", function (event) { send(form, event); });
    }
  });
})();
