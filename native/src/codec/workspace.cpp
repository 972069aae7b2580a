// The decoder's reusable workspaces (see workspace.h).
#include "codec/workspace.h"

namespace mg {

encodec_workspace::encodec_workspace(const model& m) : runner(new_decoder_runner(m)) {}

size_t encodec_workspace::bytes() const {
    size_t bytes = runner.compute_buffer_bytes();
    for (const encodec_activations& window : windows) bytes += window.data.capacity() * sizeof(float);
    return bytes;
}

std::unique_ptr<encodec_workspace> encodec_workspace_pool::take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<encodec_workspace> workspace = std::move(idle_.back());
    idle_.pop_back();
    return workspace;
}

void encodec_workspace_pool::give_back(std::unique_ptr<encodec_workspace> workspace) {
    if (workspace->bytes() > max_idle_bytes) return;  // freed
    std::lock_guard<std::mutex> lock(mutex_);
    if (idle_.size() < max_idle) idle_.push_back(std::move(workspace));
}  // a surplus workspace is freed here

encodec_workspace_lease::~encodec_workspace_lease() {
    if (pool_ && workspace_) pool_->give_back(std::move(workspace_));
}

encodec_workspace_lease acquire_encodec_workspace(const model& m) {
    if (!encodec_decoder_on_cpu(m)) return fresh_encodec_workspace(m);
    std::call_once(m.codec_workspaces_made, [&] { m.codec_workspaces = std::make_shared<encodec_workspace_pool>(); });
    std::unique_ptr<encodec_workspace> workspace = m.codec_workspaces->take();
    if (!workspace) workspace = std::make_unique<encodec_workspace>(m);
    return encodec_workspace_lease(std::move(workspace), m.codec_workspaces.get());
}

encodec_workspace_lease fresh_encodec_workspace(const model& m) {
    return encodec_workspace_lease(std::make_unique<encodec_workspace>(m), nullptr);
}

}  // namespace mg
