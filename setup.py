"Installs the sidae package from settings.ini (nbdev 2's setup.py)."
from configparser import ConfigParser
import setuptools, shlex

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']
licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
lic = licenses[cfg['license'].lower()]
requirements = shlex.split(cfg.get('requirements', ''))
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))

setuptools.setup(
    name=cfg['lib_name'], license=lic[0], version=cfg['version'], description=cfg['description'],
    author=cfg['author'], author_email=cfg['author_email'], keywords=cfg['keywords'],
    classifiers=['Development Status :: 3 - Alpha', 'Intended Audience :: Science/Research',
                 'License :: ' + lic[1], 'Natural Language :: English', 'Programming Language :: Python :: 3'],
    url=cfg['git_url'], packages=setuptools.find_packages(include=['sidae', 'sidae.*']), include_package_data=True,
    package_data={'sidae': ['*.csv']},   # sidae/paper_table1.csv: Table 1 of the paper, read by sidae.figures.paper_table1
    install_requires=requirements, extras_require={'dev': dev_requirements},
    python_requires='>=' + cfg['min_python'], long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown', zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(), 'nbdev': [f"{cfg['lib_name']}={cfg['lib_name']}._modidx:d"]},
)
