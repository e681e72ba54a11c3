# The default ralph-town snapshot (`ralph-town sandbox snapshot create`): what a teammate needs to
# clone, build, push and open pull requests. No credential is baked in: credentials arrive at run
# time (`ralph-town up` secrets, `ralph-town sandbox env set`).
FROM debian:bookworm-slim

ENV DEBIAN_FRONTEND=noninteractive

# git, curl and CA certificates; gnupg and unzip for the installers below.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl git gnupg unzip \
 && rm -rf /var/lib/apt/lists/*

# GitHub CLI from its apt repository.
RUN install -d -m 0755 /etc/apt/keyrings \
 && curl -fsSL -o /etc/apt/keyrings/githubcli-archive-keyring.gpg https://cli.github.com/packages/githubcli-archive-keyring.gpg \
 && chmod go+r /etc/apt/keyrings/githubcli-archive-keyring.gpg \
 && echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/githubcli-archive-keyring.gpg] https://cli.github.com/packages stable main" > /etc/apt/sources.list.d/github-cli.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends gh \
 && rm -rf /var/lib/apt/lists/*

# Bun at /root/.bun/bin/bun; /root is opened up so that the `daytona` user can run it too.
ENV BUN_INSTALL=/root/.bun
RUN curl -fsSL https://bun.sh/install | bash \
 && chmod 0755 /root \
 && chmod -R a+rX /root/.bun

# The sandbox user and its home, the working directory.
RUN id daytona >/dev/null 2>&1 || useradd --create-home --home-dir /home/daytona --shell /bin/bash daytona
WORKDIR /home/daytona

# The Claude Agent SDK, importable from the working directory.
RUN /root/.bun/bin/bun add @anthropic-ai/claude-agent-sdk \
 && chown -R daytona:daytona /home/daytona

# PATH for every kind of session: the image (exec), /etc/environment (SSH logins through PAM),
# /etc/profile.d (login shells) and ~/.bashrc (interactive shells that are not login shells).
ENV PATH=/root/.bun/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN echo 'PATH="/root/.bun/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' > /etc/environment \
 && echo 'export PATH="/root/.bun/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"' > /etc/profile.d/ralph-town-path.sh \
 && for rc in /root/.bashrc /home/daytona/.bashrc /etc/skel/.bashrc; do \
      echo 'case ":$PATH:" in *:/root/.bun/bin:*) ;; *) export PATH="/root/.bun/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH" ;; esac' >> "$rc"; \
    done \
 && chown daytona:daytona /home/daytona/.bashrc
