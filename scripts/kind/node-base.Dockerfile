# The kind node base image, built offline (scripts/e2e-provision.sh): what kind's
# images/base/Dockerfile does, with containerd, runc and the CNI plugins from Debian
# instead of kind's own builds (those need git clones from outside). The legacy
# builder builds it (no BuildKit here), so no COPY --chmod.
#
# Context: files/ = kind's images/base/files (from the kind module), containerd.toml =
# the containerd config scripts/e2e-provision.sh derived from kind's.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY containerd.toml /etc/containerd/config.toml
# --force-confold: Debian's containerd package would stop on the config placed above.
RUN chmod 0755 /usr/local/bin/* /kind /kind/bin /kind/bin/* \
    && chmod -R go-w /etc /kind \
    && DEBIAN_FRONTEND=noninteractive clean-install -o Dpkg::Options::=--force-confold \
      systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz e2fsprogs bash ca-certificates curl jq procps \
      containerd runc containernetworking-plugins \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf /usr/lib/systemd/systemd /sbin/init
# kind's units start /usr/local/bin/containerd; CNI plugins are looked up in /opt/cni/bin.
RUN ln -s /usr/bin/containerd /usr/local/bin/containerd \
    && mkdir -p /opt/cni/bin /etc/kubernetes/manifests \
    && cp -a /usr/lib/cni/. /opt/cni/bin/ \
    && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
    && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && containerd --version && runc --version
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
