#!/usr/bin/env python3
"""Reference for bench_train: the same LoRA training step in PyTorch eager (Debian python3-torch).

A Hugging Face-style Llama (RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU) with frozen
random weights of the shape in config.json, LoRA (y = Wx + scale * (x A) B) on every linear of the
last --num-layers blocks, masked token-weighted cross-entropy, Adam on the factors. Prints JSON.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


class LoRALinear(torch.nn.Module):
    def __init__(self, d_in, d_out, rank, scale, adapted):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(d_out, d_in) * 0.02, requires_grad=False)
        self.scale = scale
        self.lora_a = self.lora_b = None
        if adapted:
            bound = 1 / math.sqrt(d_in)
            self.lora_a = torch.nn.Parameter(torch.empty(d_in, rank).uniform_(-bound, bound))
            self.lora_b = torch.nn.Parameter(torch.zeros(rank, d_out))

    def forward(self, x):
        y = F.linear(x, self.weight)
        if self.lora_a is not None:  # the factors stay float32 over a bfloat16 base
            y = y + (self.scale * ((x.to(self.lora_a.dtype) @ self.lora_a) @ self.lora_b)).to(y.dtype)
        return y


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        wide = x.float()
        normed = wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, c, lora):
        super().__init__()
        d, hd = c["hidden_size"], c["head_dim"]
        self.heads, self.kv_heads, self.head_dim = c["num_attention_heads"], c["num_key_value_heads"], hd
        self.q_proj = lora(d, self.heads * hd)
        self.k_proj = lora(d, self.kv_heads * hd)
        self.v_proj = lora(d, self.kv_heads * hd)
        self.o_proj = lora(self.heads * hd, d)
        self.gate_proj = lora(d, c["intermediate_size"])
        self.up_proj = lora(d, c["intermediate_size"])
        self.down_proj = lora(c["intermediate_size"], d)
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])

    def attention(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):  # the fused kernel where this torch has one
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
            out = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))

    def forward(self, x, cos, sin, mask):
        h = x + self.attention(self.input_layernorm(x), cos, sin, mask)
        m = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))


class Llama(torch.nn.Module):
    def __init__(self, c, rank, scale, num_layers):
        super().__init__()
        layers = c["num_hidden_layers"]
        first_adapted = max(0, layers - num_layers)
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.embed_tokens.weight.requires_grad_(False)
        self.layers = torch.nn.ModuleList(
            Block(c, lambda i, o, a=(l >= first_adapted): LoRALinear(i, o, rank, scale, a)) for l in range(layers))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.tied = c.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = LoRALinear(c["hidden_size"], c["vocab_size"], rank, scale, False)
        self.head_dim, self.theta = c["head_dim"], c.get("rope_theta", 10000.0)

    def forward(self, tokens):
        t = tokens.shape[1]
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        freqs = torch.outer(torch.arange(t).float(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        dtype = self.embed_tokens.weight.dtype
        cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
        mask = torch.full((t, t), float("-inf")).triu(1).to(dtype)
        h = self.embed_tokens(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        h = self.norm(h)
        return F.linear(h, self.embed_tokens.weight) if self.tied else self.lm_head(h)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--scale", type=float, default=20.0)
    p.add_argument("--num-layers", type=int, default=16)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.config) as f:
        c = json.load(f)
    c.setdefault("num_key_value_heads", c["num_attention_heads"])
    c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
    model = Llama(c, a.rank, a.scale, a.num_layers)
    if a.dtype == "bfloat16":  # frozen weights and activations in bfloat16, LoRA factors float32
        for p in model.parameters():
            if not p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-5)
    tokens = torch.randint(0, c["vocab_size"], (a.batch, a.seq + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    mask = torch.ones_like(targets, dtype=torch.float32)

    def step():
        optimizer.zero_grad(set_to_none=True)
        logits = model(inputs)
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
        loss = (losses * mask.reshape(-1)).sum() / mask.sum()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = (time.perf_counter() - start) / a.steps
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "seconds_per_step": seconds, "tokens_per_sec": a.batch * a.seq / seconds,
                      "trainable": sum(p.numel() for p in params)}))


if __name__ == "__main__":
    main()
