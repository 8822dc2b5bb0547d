-- An end-to-end session in a real editor: headless Neovim (0.7+) starts `eqlint server`
-- with its built-in LSP client on a copy of nvim_train.py and checks what a user would
-- see. Run by tests/lsp_nvim.sh; exits 0 when every check holds, 1 otherwise (cquit), so a
-- Lua error can never leave a headless editor waiting forever.
--
-- Environment: EQLINT (the program), FIXTURE (the file to open, in a scratch directory).

local eqlint = assert(os.getenv("EQLINT"), "EQLINT not set")
local fixture = assert(os.getenv("FIXTURE"), "FIXTURE not set")
local TIMEOUT = 30000

local function check(cond, what)
  if not cond then error("check failed: " .. what, 2) end
end

-- The code of a diagnostic: 0.8+ copies it to the item, 0.7 keeps it in user_data.
local function code_of(d)
  if d.code then return d.code end
  return d.user_data and d.user_data.lsp and d.user_data.lsp.code
end

local function main()
  vim.cmd("edit " .. vim.fn.fnameescape(fixture))
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = "python" -- -u NONE: no filetype detection

  local exit_code = nil
  local client_id = vim.lsp.start_client({
    name = "eqlint",
    cmd = { eqlint, "server" },
    root_dir = vim.fn.fnamemodify(fixture, ":p:h"),
    on_exit = function(code) exit_code = code end,
  })
  check(client_id, "the client started")
  check(vim.lsp.buf_attach_client(buf, client_id), "the buffer is attached")

  -- 1. The pitfall is reported where it is, with columns right after non-ASCII text:
  --    line 6 is `x = "é😀"; state = optim.init(model)`; Neovim turns the server's UTF-16
  --    column (19) back into a byte column (22).
  check(vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) > 0 end, 20),
        "diagnostics arrive after opening")
  local diags = vim.diagnostic.get(buf)
  check(#diags == 1, "exactly one diagnostic, got " .. #diags)
  local d = diags[1]
  check(code_of(d) == "EQX001", "code EQX001, got " .. tostring(code_of(d)))
  check(d.lnum == 5, "on line index 5, got " .. d.lnum)
  check(d.col == 22, "at byte column 22, got " .. d.col)
  check(d.end_col == 39, "ending at byte column 39, got " .. tostring(d.end_col))
  check(d.severity == vim.diagnostic.severity.ERROR, "severity error")
  check(d.source == "eqlint", "source eqlint")
  check(d.message:find("optim.init", 1, true), "the message names the call")

  local client = vim.lsp.get_client_by_id(client_id)
  local uri = vim.uri_from_bufnr(buf)

  -- 2. Hover over the finding shows the rule's documentation.
  local hover = client.request_sync("textDocument/hover", {
    textDocument = { uri = uri },
    position = { line = 5, character = 21 },
  }, TIMEOUT, buf)
  check(hover and hover.result, "hover answered")
  local value = hover.result.contents.value
  check(value:find("EQX001", 1, true) and value:find("What it does", 1, true),
        "hover shows the rule's documentation")

  -- 3. The code actions: the fix, then the noqa suppression, then the fix-all action.
  local actions = client.request_sync("textDocument/codeAction", {
    textDocument = { uri = uri },
    range = { start = { line = 5, character = 21 }, ["end"] = { line = 5, character = 21 } },
    context = { diagnostics = {} },
  }, TIMEOUT, buf)
  check(actions and actions.result and #actions.result == 3, "three code actions")
  check(actions.result[1].title == "Wrap `model` in `eqx.filter(..., eqx.is_array)`",
        "the fix first")
  check(actions.result[1].isPreferred == true, "the fix is preferred")
  check(actions.result[2].title == "Suppress EQX001 with `# noqa: EQX001`", "its title")
  check(actions.result[3].kind == "source.fixAll.eqlint", "the fix-all action last")

  -- 4. Typing the fix (incremental didChanges) clears the list.
  vim.api.nvim_buf_set_text(buf, 5, 38, 5, 38, { ", eqx.is_array)" })
  vim.api.nvim_buf_set_text(buf, 5, 33, 5, 33, { "eqx.filter(" })
  check(vim.api.nvim_buf_get_lines(buf, 5, 6, true)[1] ==
        'x = "é😀"; state = optim.init(eqx.filter(model, eqx.is_array))', "the edit")
  check(vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) == 0 end, 20),
        "the diagnostic goes away after the fix")

  -- 5. Undoing it brings the finding back.
  vim.api.nvim_buf_set_lines(buf, 5, 6, true, { 'x = "é😀"; state = optim.init(model)' })
  check(vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) == 1 end, 20),
        "the diagnostic returns")

  -- 6. Fix-on-save's request: only the fix-all action, applied by the editor itself with the
  --    server's UTF-16 positions after non-ASCII text.
  local fixall = client.request_sync("textDocument/codeAction", {
    textDocument = { uri = uri },
    range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 0 } },
    context = { diagnostics = {}, only = { "source.fixAll" } },
  }, TIMEOUT, buf)
  check(fixall and fixall.result and #fixall.result == 1, "one fix-all action")
  vim.lsp.util.apply_workspace_edit(fixall.result[1].edit, "utf-16")
  check(vim.api.nvim_buf_get_lines(buf, 5, 6, true)[1] ==
        'x = "é😀"; state = optim.init(eqx.filter(model, eqx.is_array))', "the fixed line")
  check(vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) == 0 end, 20),
        "nothing left after fix-all")

  -- 7. A clean shutdown: shutdown + exit, exit status 0.
  client.stop()
  check(vim.wait(TIMEOUT, function() return exit_code ~= nil end, 20), "the server exits")
  check(exit_code == 0, "exit status 0 after shutdown, got " .. tostring(exit_code))
end

local ok, err = xpcall(main, debug.traceback)
if ok then
  io.stdout:write("nvim LSP session: all checks passed\n")
  vim.cmd("qall!")
else
  io.stderr:write("nvim LSP session FAILED: " .. tostring(err) .. "\n")
  vim.cmd("cquit 1")
end
